"""In-memory seeding: weighted greedy k-means++ and keyed uniform choice of rows."""

from __future__ import annotations

import numpy as np

from dkmeans.kernels._compiled import greedy_plusplus_pairwise
from dkmeans.kernels.distances import nearest_centers, squared_distances
from dkmeans.kernels.random import keyed_uniform

#: Up to this many rows, k-means++ measures all pairwise distances once (32 MiB at most) and
#: runs its steps in one compiled loop; the reclustering of k-means|| candidates is this case.
PAIRWISE_MAX_ROWS = 2048


def kmeans_plusplus(X, n_clusters, *, rng, sample_weight=None, shift=None, n_local_trials=None,
                    pairwise=None):
    """Greedy k-means++ seeding on rows held in memory (Arthur & Vassilvitskii 2007).

    As scikit-learn does, each step draws ``n_local_trials`` candidates with probability
    proportional to ``weight * D(x)^2`` and keeps the one that lowers the potential most.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    n_clusters : int
    rng : numpy.random.Generator
    sample_weight : ndarray of shape (n,), optional
    shift : ndarray of shape (d,), optional
        Point subtracted before distance expansions (the data mean).
    n_local_trials : int, optional
        Default ``2 + int(log(n_clusters))``.
    pairwise : ndarray of shape (n, n), float64, optional
        :func:`pairwise_distances` of ``X``, when several seedings share it.

    Returns
    -------
    centers : ndarray of shape (n_clusters, d), float64
    indices : ndarray of shape (n_clusters,), int64
        Rows of ``X`` chosen.
    """
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    total_w = w.sum()
    first = int(rng.choice(n, p=w / total_w)) if total_w > 0 else int(rng.integers(n))
    # both ways draw the same uniforms, (k - 1) x n_local_trials in order, and pick the same rows
    if pairwise is None:
        pairwise = pairwise_distances(X, shift=shift)  # None above PAIRWISE_MAX_ROWS
    if pairwise is not None:
        indices = np.empty(n_clusters, dtype=np.int64)
        uniforms = rng.uniform(size=(n_clusters - 1, n_local_trials))
        greedy_plusplus_pairwise(pairwise, w, first, uniforms, indices)
        return X[indices].astype(np.float64), indices
    indices = [first]
    _, closest = nearest_centers(X, X[[first]], shift=shift)
    potential = closest @ w
    for _ in range(1, n_clusters):
        uniforms = rng.uniform(size=n_local_trials)
        if potential <= 0:  # every row sits on a centre already: any row will do
            indices.append(min(int(uniforms[0] * n), n - 1))
            continue
        cumulative = np.cumsum(w * closest)
        candidates = np.minimum(np.searchsorted(cumulative, uniforms * cumulative[-1]), n - 1)
        trial = np.minimum(closest[:, None], squared_distances(X, X[candidates], shift=shift))
        trial_potential = w @ trial
        best = int(np.argmin(trial_potential))
        indices.append(int(candidates[best]))
        closest = trial[:, best].copy()
        potential = trial_potential[best]
    indices = np.asarray(indices, dtype=np.int64)
    return X[indices].astype(np.float64), indices


def pairwise_distances(X, *, shift=None):
    """Squared distances between all rows, shape (n, n), float64, or None above
    ``PAIRWISE_MAX_ROWS`` rows (then k-means++ measures distances step by step instead)."""
    return squared_distances(X, X, shift=shift) if X.shape[0] <= PAIRWISE_MAX_ROWS else None


def chunk_smallest_keys(X, key, row_offset, n_keep):
    """The ``n_keep`` rows of a chunk with the smallest keyed draws (a uniform sample without
    replacement that does not depend on chunking).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    key : numpy.uint64
    row_offset : int
        Global index of the chunk's first row.
    n_keep : int

    Returns
    -------
    draws : ndarray of shape (m,), float64
    rows : ndarray of shape (m, d), float64
    index : ndarray of shape (m,), int64
        Global row indices; ``m = min(n_keep, n)``.
    """
    u = keyed_uniform(key, row_offset, X.shape[0])
    m = min(n_keep, X.shape[0])
    pick = np.argpartition(u, m - 1)[:m] if m < X.shape[0] else np.arange(X.shape[0])
    return u[pick], np.asarray(X[pick], dtype=np.float64), pick.astype(np.int64) + row_offset


def combine_smallest_keys(parts, n_keep):
    """Merge :func:`chunk_smallest_keys` results, keeping the ``n_keep`` smallest draws.

    Parameters
    ----------
    parts : sequence of (draws, rows, index)
    n_keep : int

    Returns
    -------
    tuple (draws, rows, index), ordered by draw then index
    """
    draws = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[1] for p in parts])
    index = np.concatenate([p[2] for p in parts])
    order = np.lexsort((index, draws))[:n_keep]
    return draws[order], rows[order], index[order]
