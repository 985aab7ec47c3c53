"""Initial centres over a backend: k-means|| (default), k-means++, random rows, or given.

k-means|| follows Bahmani et al. 2012: a first centre drawn uniformly; ``rounds`` rounds that
each sample every row with probability ``min(1, l * w * D(x)^2 / phi)``, ``l =
oversampling_factor * k``; candidates weighted by the rows nearest to them; weighted k-means++
and Lloyd on the candidates in memory, several times, keeping the lowest cost. All draws are
keyed by global row index, so the result does not depend on chunking or scheduling.

On persisted data with short passes the rounds' per-row state stays in the direct-pass actors
(:mod:`dkmeans.dist.direct`); should a worker holding some of it leave, the rounds start again
as tasks and, the draws being keyed, end at the same centres.
"""

from __future__ import annotations

import logging

import numpy as np

from dkmeans.dist.direct import StateLost
from dkmeans.dist.graph import sum_parts
from dkmeans.kernels.kmeans_parallel import (
    chunk_candidate_weights,
    chunk_sample,
    chunk_update_nearest,
    keep_sampled,
    recluster,
)
from dkmeans.kernels.random import keyed_index, stream_key
from dkmeans.kernels.seeding import chunk_smallest_keys, combine_smallest_keys, kmeans_plusplus

logger = logging.getLogger(__name__)

#: Rows drawn uniformly for k-means++ seeding when the data is a Dask array.
PLUSPLUS_SAMPLE_ROWS = 100_000

#: Fewest rows a k-means|| round draws on average. With ``l = 2k`` alone a small k draws a
#: handful of rows per round, and a cluster then gets no candidate at all in about one fit in
#: ten thousand (3 blobs: 5 in 38,800 unseeded fits; none in 35,000 at 16), for the price of
#: measuring a few more candidates per pass.
MIN_ROWS_PER_ROUND = 16


def _smallest_chunk(x, w, offset, key, n_keep):
    draws, rows, index = chunk_smallest_keys(x, key, offset, n_keep)
    if w is not None:  # rows without weight (e.g. skipped) are never picked
        draws = np.where(w[index - offset] > 0, draws, np.inf)
    return draws, rows, index


class _SmallestCombine:
    """Picklable combine keeping the ``n_keep`` smallest draws."""

    def __init__(self, n_keep):
        self.n_keep = n_keep

    def __call__(self, parts):
        return combine_smallest_keys(parts, self.n_keep)


def uniform_rows(backend, n_rows, *, seed, stream=0):
    """``n_rows`` distinct rows chosen uniformly (by smallest keyed draw), in one pass.

    Returns
    -------
    rows : ndarray of shape (m, d), float64
    index : ndarray of shape (m,), int64
    """
    key = stream_key(seed, stream)
    _, rows, index = backend.reduce(_smallest_chunk, _SmallestCombine(n_rows),
                                    args=(key, n_rows), phase="init-uniform")
    return rows, index


def _round_chunk(x, w, offset, state, new, shift, start, key, ell, earlier=None,
                 state_owned=False):
    """One k-means|| pass over a chunk: measure the new candidates, then draw the chunk's share
    of the next round's sample against the chunk's own cost (with ``key``) or, on the last
    pass (``key`` None), count the rows nearest to each candidate.

    The previous state is updated in place where the backend says it is ``state_owned``
    (a chained state, see :meth:`~dkmeans.dist.backend.DaskBackend.reduce_with_state`).
    Returns the new state and ``(cost, candidate weights or None, sample or None)``.
    """
    new_state, cost = chunk_update_nearest(x, new, state, shift=shift, offset=start,
                                           sample_weight=w, earlier=earlier,
                                           overwrite_state=state_owned)
    if key is None:  # the last pass: weigh the candidates
        return new_state, (cost, chunk_candidate_weights(new_state, start + new.shape[0], w),
                           None)
    sample = chunk_sample(x, new_state, key=key, oversampling=ell, cost=cost,
                          row_offset=offset, sample_weight=w)
    return new_state, (cost, None, sample)


def _combine_round(parts):
    """Sum costs (and weights); narrow the samples to the rows still drawn at the summed cost."""
    cost = sum_parts([p[0] for p in parts])
    if parts[0][2] is None:
        return cost, sum_parts([p[1] for p in parts]), None
    return cost, None, keep_sampled([p[2] for p in parts], cost)


def _weights_chunk(x, w, offset, state, n_candidates, state_owned=False):
    return state, chunk_candidate_weights(state, n_candidates, w)


class _KeepSampled:
    """Picklable combine of :func:`chunk_sample` results drawn at a known total cost."""

    def __init__(self, cost):
        self.cost = cost

    def __call__(self, parts):
        return keep_sampled(parts, self.cost)


def _sample_chunk(x, w, offset, state, key, ell, cost, state_owned=False):
    return state, chunk_sample(x, state, key=key, oversampling=ell, cost=cost,
                               row_offset=offset, sample_weight=w)


def kmeans_parallel(backend, n_clusters, *, seed, shift, oversampling_factor=2.0, rounds=2,
                    n_trials=5):
    """k-means|| initial centres (uncentred), shape (n_clusters, d), float64.

    Every round is one pass: it measures the round's candidates and draws the next round's
    sample in the same tasks (see :func:`~dkmeans.kernels.kmeans_parallel.chunk_sample`), so
    ``rounds`` rounds cost ``rounds + 1`` passes, the candidate weights included.

    Parameters
    ----------
    backend : LocalBackend or DaskBackend
    n_clusters : int
    seed : int
    shift : ndarray of shape (d,)
    oversampling_factor : float, default 2.0
        ``l / k``, where ``l`` is the expected number of rows a round draws; ``l`` is at least
        :data:`MIN_ROWS_PER_ROUND`.
    rounds : int, default 2
        Sampling rounds; Bahmani et al. and Spark find a few enough at ``l = 2k``.
    n_trials : int, default 5
        Reclusterings of the candidates; the lowest weighted cost wins.
    """
    try:
        return _kmeans_parallel(backend, n_clusters, seed, shift, oversampling_factor, rounds,
                                n_trials)
    except StateLost as error:
        logger.info("k-means|| starts again as task passes: %s", error)
        return _kmeans_parallel(backend, n_clusters, seed, shift, oversampling_factor, rounds,
                                n_trials)


def _kmeans_parallel(backend, n_clusters, seed, shift, oversampling_factor, rounds, n_trials):
    ell = max(oversampling_factor * n_clusters, MIN_ROWS_PER_ROUND)

    def another_round(done, n_candidates):
        # extra rounds only when too few candidates came out (tiny data, heavy duplication)
        return done < rounds or (n_candidates < n_clusters and done < rounds + 5)

    if backend.sample_weight is None:
        # one keyed draw picks the first centre: no pass over the data
        first = backend.take_rows([keyed_index(stream_key(seed, 0), backend.n_rows)])
    else:
        first, _ = uniform_rows(backend, 1, seed=seed, stream=0)
    candidates, new, state = [first], first, None
    n_candidates = round_no = 0
    while True:
        more = another_round(round_no, n_candidates + new.shape[0])
        key = stream_key(seed, round_no + 1) if more else None
        old_state = state
        # rows skip new candidates too far from their nearest earlier one to come nearer
        earlier = np.concatenate(candidates[:-1]) if n_candidates > 1 else None
        state, (cost, weights, sample) = backend.reduce_with_state(
            _round_chunk, _combine_round, state,
            args=(new, shift, n_candidates, key, ell, earlier),
            phase=f"init-round{round_no}", chained_state=True,
            row_work=new.shape[0] * backend.n_features)
        backend.release(old_state)
        n_candidates += new.shape[0]
        if not more or cost <= 0:
            break
        round_no += 1
        # an empty draw (tiny data) is redrawn with the next round's key, data permitting
        while sample.rows.shape[0] == 0 and another_round(round_no, n_candidates):
            round_no += 1
            old_state = state
            state, sample = backend.reduce_with_state(
                _sample_chunk, _KeepSampled(cost), state,
                args=(stream_key(seed, round_no), ell, cost), phase=f"init-round{round_no}-sample",
                chained_state=True, row_work=1)
            backend.release(old_state)
        if sample.rows.shape[0] == 0:
            break
        new = sample.rows
        candidates.append(new)
    if weights is None:  # stopped early (no cost left, or no row drawn): weigh them now
        old_state = state
        state, weights = backend.reduce_with_state(_weights_chunk, sum_parts, state,
                                                   args=(n_candidates,), phase="init-weights",
                                                   chained_state=True, row_work=1)
        backend.release(old_state)
    candidates = np.concatenate(candidates)
    backend.release(state)
    logger.info("k-means||: %d candidates after %d rounds", n_candidates, round_no)
    if candidates.shape[0] < n_clusters:
        # fewer candidates than clusters: top up with uniformly chosen rows
        extra, _ = uniform_rows(backend, n_clusters, seed=seed, stream=10_000)
        return np.concatenate([candidates, extra])[:n_clusters]
    rng = np.random.default_rng(stream_key(seed, 20_000))
    return recluster(candidates, weights, n_clusters, rng=rng, shift=shift, n_trials=n_trials)


def kmeans_plusplus_init(backend, n_clusters, *, seed, shift, sample_weight_local=None):
    """k-means++ initial centres, shape (n_clusters, d).

    On in-memory data it runs on all rows, as scikit-learn does. On a Dask array it runs on
    a uniform sample of at most ``PLUSPLUS_SAMPLE_ROWS`` rows (one pass to draw it).
    """
    rng = np.random.default_rng(stream_key(seed, 30_000))
    if not backend.is_dask:
        centers, _ = kmeans_plusplus(backend.X, n_clusters, rng=rng,
                                     sample_weight=backend.sample_weight, shift=shift)
        return centers
    rows, _ = uniform_rows(backend, max(PLUSPLUS_SAMPLE_ROWS, n_clusters), seed=seed,
                           stream=30_001)
    centers, _ = kmeans_plusplus(rows, n_clusters, rng=rng, shift=shift)
    return centers


def random_init(backend, n_clusters, *, seed):
    """``n_clusters`` distinct rows chosen uniformly, shape (n_clusters, d)."""
    rows, _ = uniform_rows(backend, n_clusters, seed=seed, stream=40_000)
    return rows
