"""Per-chunk steps of k-means|| (Bahmani et al. 2012, "Scalable K-Means++").

Each round samples every row independently with probability ``min(1, l * w * D(x)^2 / phi)``;
rows keep their distance to the nearest candidate so far (and its index) between rounds, so a
round only measures against the new candidates. The candidates are then weighted by the rows
nearest to them and reclustered in memory.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from dkmeans.kernels._compiled import first_center_block, keyed_sample_into
from dkmeans.kernels.blas import single_threaded_blas
from dkmeans.kernels.distances import nearest_centers
from dkmeans.kernels.partials import chunk_partials, finalize_centers
from dkmeans.kernels.random import keyed_uniform_at
from dkmeans.kernels.scratch import thread_scratch
from dkmeans.kernels.seeding import kmeans_plusplus, pairwise_distances


def chunk_update_nearest(X, new_candidates, state, *, shift, offset, sample_weight=None,
                         earlier=None, overwrite_state=False):
    """Improve each row's nearest-candidate distance with new candidates.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    new_candidates : ndarray of shape (c, d)
    state : tuple (best_d2 (n,) float64, best_idx (n,) int64, row_norms (n,) float64) or None
        From the previous round; ``None`` before the first. ``row_norms`` (``|x - shift|^2``)
        is measured in the first round and reused, so later rounds cost a BLAS product and
        one compiled sweep per block.
    shift : ndarray of shape (d,)
    offset : int
        Index of ``new_candidates[0]`` among all candidates.
    sample_weight : ndarray of shape (n,), optional
    earlier : ndarray of shape (offset, d), optional
        The candidates measured in earlier rounds: with them a row skips the new candidates
        that cannot come nearer (see :func:`~dkmeans.kernels.distances.nearest_centers`).
    overwrite_state : bool, default False
        Update ``state``'s arrays in place instead of copies of them (where nothing else
        reads them any more: fresh arrays of the chunk's size cost page faults, 2.2 ms of a
        14 ms round per 250k rows of S's shape on one thread).

    Returns
    -------
    state : tuple (best_d2, best_idx, row_norms)
        New arrays, the input state left as it was; with ``overwrite_state``, the input's
        arrays, updated.
    cost : float
        ``sum(w * best_d2)`` over the chunk.
    """
    if state is None and new_candidates.shape[0] == 1:
        # the first round: one candidate, measured in one sweep with the row norms
        best_d2, row_norms = np.empty(X.shape[0]), np.empty(X.shape[0])
        best_idx = np.full(X.shape[0], offset, dtype=np.int64)
        first_center_block(X, np.asarray(shift, dtype=np.float64),
                           np.asarray(new_candidates[0], dtype=np.float64), best_d2, row_norms)
    else:
        if state is None:
            best_d2 = best_idx = None
            row_norms = np.full(X.shape[0], np.nan)
        else:
            best_d2, best_idx, row_norms = state
            if not overwrite_state:
                best_d2, best_idx = best_d2.copy(), best_idx.copy()
        best_idx, best_d2 = nearest_centers(X, new_candidates, shift=shift, best_d2=best_d2,
                                            best_idx=best_idx, offset=offset,
                                            row_norms=row_norms,
                                            earlier=None if state is None else earlier)
    cost = float(best_d2.sum() if sample_weight is None
                 else np.sum(np.asarray(sample_weight, dtype=np.float64) * best_d2))
    return (best_d2, best_idx, row_norms), cost


class Sample(NamedTuple):
    """Rows drawn in a k-means|| round, with what is needed to re-test them against a larger
    cost. All arrays have one entry (row) per sampled row, in global row order."""

    draws: np.ndarray  # (s,) float64, the keyed uniform draw of each row
    scores: np.ndarray  # (s,) float64, l * w * D(x)^2
    rows: np.ndarray  # (s, d) float64
    index: np.ndarray  # (s,) int64, global row indices


def chunk_sample(X, state, *, key, oversampling, cost, row_offset, sample_weight=None):
    """Rows of a chunk sampled for one k-means|| round: those with ``u * cost < l * w * D^2``.

    Given the total cost ``phi`` this is the round's sample. Given only a lower bound of it (the
    chunk's own cost, while that cost is still being summed) it is a superset of the sample, of
    about ``l`` rows, which :func:`keep_sampled` narrows once the total is known: so sampling
    can ride along with the pass that measures the cost, instead of needing a pass of its own.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    state : tuple (best_d2 (n,), best_idx (n,), row_norms (n,))
    key : numpy.uint64
        Keyed-draw stream of this round.
    oversampling : float
        Expected number of rows sampled over the whole data (``l``).
    cost : float
        ``phi``, or a lower bound of it.
    row_offset : int
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    Sample
    """
    best_d2 = state[0]
    unit = sample_weight is None
    w = np.empty(0) if unit else np.ascontiguousarray(sample_weight, dtype=np.float64)
    picked = thread_scratch("sample-picked", (X.shape[0],), np.int64)
    count = keyed_sample_into(np.uint64(key), np.uint64(row_offset), best_d2, w, unit,
                              float(oversampling), float(cost), picked)
    picked = picked[:count].copy()  # the scratch buffer is this thread's, for the next call
    scores = (oversampling * best_d2[picked] if unit
              else oversampling * w[picked] * best_d2[picked])
    return Sample(keyed_uniform_at(key, row_offset, picked), scores,
                  np.asarray(X[picked], dtype=np.float64), picked + row_offset)


def keep_sampled(samples, cost):
    """Concatenate samples (in row order) and keep the rows still sampled at ``cost``.

    Rounding is monotone, so a partial sum of non-negative chunk costs never exceeds the total
    and every row sampled at the total passes each earlier, smaller bound: narrowing step by step
    up a reduction tree ends with exactly the rows :func:`chunk_sample` picks at the total.

    Parameters
    ----------
    samples : sequence of Sample
    cost : float

    Returns
    -------
    Sample
    """
    whole = Sample(*(np.concatenate([getattr(s, f) for s in samples]) for f in Sample._fields))
    keep = np.flatnonzero(whole.draws * cost < whole.scores)
    return Sample(*(a[keep] for a in whole))


def chunk_candidate_weights(state, n_candidates, sample_weight=None):
    """Weight of each candidate: the total weight of the chunk's rows nearest to it.

    Parameters
    ----------
    state : tuple (best_d2 (n,), best_idx (n,), row_norms (n,))
    n_candidates : int
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    ndarray of shape (n_candidates,), float64
    """
    return np.bincount(state[1], weights=sample_weight, minlength=n_candidates).astype(np.float64)


def weighted_lloyd(X, weights, centers, *, shift, max_iter=100, tol=0.0):
    """Plain weighted Lloyd on rows held in memory (the reclustering of candidates).

    Parameters
    ----------
    X : ndarray of shape (n, d), float64
    weights : ndarray of shape (n,)
    centers : ndarray of shape (k, d)
        Starting centres (uncentred).
    shift : ndarray of shape (d,)
    max_iter : int
    tol : float
        Stop when the total squared centre shift is at most ``tol``.

    Returns
    -------
    centers : ndarray of shape (k, d)
    cost : float
        Weighted cost of the returned centres.
    """
    current = (np.asarray(centers, dtype=np.float64) - shift)[None]
    for _ in range(max_iter):
        partials = chunk_partials(X, current, shift, weights, lean=True)
        if (partials.counts <= 0).any():  # the far rows that refill an empty cluster
            partials = chunk_partials(X, current, shift, weights)
        current, moved, _ = finalize_centers(partials, current)
        if moved[0] <= tol:
            break
    final = chunk_partials(X, current, shift, weights)
    return current[0] + shift, float(final.inertia[0])


#: Reclusterings smaller than this (candidates x clusters) run their tries on one thread.
#: On S of ``make bench`` (58 candidates, 16 clusters) threads made it 3 ms slower; on K
#: (1,125 and 256) they saved 10-35 ms.
THREADED_RECLUSTER_SIZE = 50_000


def recluster(candidates, weights, n_clusters, *, rng, shift, n_trials=5, n_threads=None):
    """Reduce weighted candidates to ``n_clusters`` centres, keeping the best of several tries.

    Each try is weighted k-means++ followed by weighted Lloyd; the try with the lowest weighted
    cost wins (the first of equals). The candidates are few (about ``l * rounds``), so several
    tries cost little and buy the robustness of restarts for the price of one pass over the
    data. Each try draws from its own generator (spawned from ``rng``), so the tries run side
    by side on threads and the result does not depend on how many.

    Parameters
    ----------
    candidates : ndarray of shape (c, d), float64
    weights : ndarray of shape (c,)
    n_clusters : int
    rng : numpy.random.Generator
    shift : ndarray of shape (d,)
    n_trials : int, default 5
    n_threads : int, optional
        Tries run at once; default the number of CPUs.

    Returns
    -------
    ndarray of shape (n_clusters, d), float64
    """
    keep = weights > 0
    if keep.sum() >= n_clusters:
        candidates, weights = candidates[keep], weights[keep]
    if candidates.shape[0] <= n_clusters:
        return candidates[:n_clusters].copy()
    n_threads = min(n_threads or os.cpu_count() or 1, n_trials)
    if candidates.shape[0] * n_clusters < THREADED_RECLUSTER_SIZE:
        n_threads = 1  # starting threads would cost more than the tries
    with single_threaded_blas():  # small products, many calls: see dkmeans.kernels.blas
        pairwise = pairwise_distances(candidates, shift=shift)  # measured once for every try

        def one_try(trial_rng):
            seeds, _ = kmeans_plusplus(candidates, n_clusters, rng=trial_rng,
                                       sample_weight=weights, shift=shift, pairwise=pairwise)
            return weighted_lloyd(candidates, weights, seeds, shift=shift)

        generators = rng.spawn(n_trials)
        if n_threads > 1:
            with ThreadPoolExecutor(n_threads, thread_name_prefix="dkmeans-recluster") as pool:
                tries = list(pool.map(one_try, generators))
        else:
            tries = [one_try(g) for g in generators]
    best = min(range(n_trials), key=lambda i: tries[i][1])
    return tries[best][0]
