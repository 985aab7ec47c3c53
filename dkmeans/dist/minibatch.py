"""The mini-batch k-means driver (Sculley 2010): sampled batches, or streaming epochs over chunks.

Three ways to reach the rows, chosen by :func:`open_rows`:

- :class:`InMemoryRows` (NumPy input): every step draws ``batch_size`` row indices with
  replacement (keyed by the step number) and runs scikit-learn's step on them in this process.
- :class:`ChunkRows` (a Dask array whose chunks are in memory, e.g. persisted): the client draws
  the batch's global row indices; each chunk holding some of them sums its rows per centre where
  it lives; a fixed tree combines the partial sums and the client applies the update. One
  round trip per step; nothing but partial sums (and, rarely, reassignment rows) comes back.
- :class:`StreamRows` (a Dask array that is not in memory, e.g. straight from Parquet): an epoch
  reads every chunk once, in a keyed random order, ``stream_chunks`` chunks at a time (a
  *group*). Each chunk's rows are shuffled where it is read; then one task runs the group's
  ``rows_in_group / batch_size`` steps one after the other, step ``j`` taking slice ``j`` of every
  chunk of the group. So each chunk read feeds several updates, each batch mixes rows of several
  chunks, and the per-step cost is that of NumPy, not of a scheduler round trip. The next group
  is read while the current one runs: at most two groups are held in cluster memory (the task
  gathers its group's chunks on one worker, so a worker holds at most about
  ``2 * stream_chunks`` chunks). If early stopping ends the fit, the group read ahead is wasted.
  Chunks may each hold a few clusters only (files sorted or partitioned by a key), so the
  sample that seeds the centres comes from every chunk (one more read), and neither
  reassignment nor early stopping acts before every chunk has been read once.

Early stopping, reassignment and the update are the kernels' (:mod:`dkmeans.kernels.minibatch`).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import dask.array as da
import numpy as np
from threadpoolctl import threadpool_limits

from dkmeans.dist.backend import LocalBackend
from dkmeans.dist.init import kmeans_parallel, kmeans_plusplus_init, random_init
from dkmeans.dist.minibatch_chunks import (
    GroupPlan,
    LocalExecutor,
    concat_rows,
    check_finite_rows,
    chunk_layout,
    make_executor,
    prepare_chunk,
    run_group,
)
from dkmeans.dist.placement import is_in_memory
from dkmeans.kernels.minibatch import (
    STREAM_INIT,
    EarlyStopping,
    MiniBatchState,
    apply_step,
    batch_indices,
    batch_partials,
    chunk_order,
    reassignment_due,
    sample_indices,
    step_on_rows,
)
from dkmeans.kernels.random import stream_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MiniBatchConfig:
    """Settings of a mini-batch run (see ``MiniBatchKMeans`` for their meaning).

    ``tol`` is relative (multiplied by the mean feature variance of the initialisation sample);
    ``max_iter`` counts epochs.
    """

    batch_size: int = 1024
    max_iter: int = 100
    reassignment_ratio: float = 0.01
    tol: float = 0.0
    max_no_improvement: int | None = 10


@dataclass(frozen=True)
class RunResult:
    """What a run did: ``state`` after it, ``n_steps`` and ``n_rows`` processed, whether early
    stopping ended it, and the stopping monitor (its EWA inertia)."""

    state: MiniBatchState
    n_steps: int
    n_rows: int
    converged: bool
    monitor: EarlyStopping | None


def _selection(idx, offsets):
    """Split global row indices by chunk: list of (chunk, local indices) in chunk order."""
    chunk = np.searchsorted(offsets, idx, side="right") - 1
    order = np.argsort(chunk, kind="stable")
    chunk, idx = chunk[order], idx[order]
    cuts = np.flatnonzero(np.diff(chunk)) + 1
    return [(int(c[0]), i - offsets[c[0]]) for c, i in zip(np.split(chunk, cuts),
                                                           np.split(idx, cuts)) if len(c)]


def _sampled_loop(step_fn, state, cfg, *, n_rows, tol, early_stop, on_step):
    """Steps on batches drawn with replacement (scikit-learn's ``fit`` loop)."""
    b = min(cfg.batch_size, n_rows)
    n_steps = max(1, (cfg.max_iter * n_rows) // b)
    monitor = EarlyStopping(b, n_rows, tol, cfg.max_no_improvement) if early_stop else None
    done, converged = 0, False
    for _ in range(n_steps):
        idx = batch_indices(state.seed, state.n_steps, n_rows, b)
        outcome = step_fn(state, idx)
        done += 1
        if on_step is not None:
            on_step(state.n_steps, outcome)
        if monitor is not None and monitor.update(outcome):
            converged = True
            break
    return RunResult(state, done, done * b, converged, monitor)


class InMemoryRows:
    """Rows of a NumPy array, sampled in this process.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    sample_weight : ndarray of shape (n,) or None
    """

    def __init__(self, X, sample_weight=None):
        check_finite_rows(X)
        self.X, self.w = X, sample_weight
        self.n_rows = X.shape[0]

    def init_sample(self, seed, size, *, seeds_centers=True):
        """``size`` rows drawn uniformly from all rows (whatever ``seeds_centers``)."""
        idx = np.sort(sample_indices(seed, self.n_rows, size))
        return np.asarray(self.X[idx], dtype=np.float64), None if self.w is None else self.w[idx]

    def _step(self, state, idx):
        w = None if self.w is None else self.w[idx]
        return step_on_rows(state, self.X[idx], w, reassignment_ratio=self._ratio)

    def run(self, state, cfg, *, tol, early_stop=True, on_step=None):
        self._ratio = cfg.reassignment_ratio
        with threadpool_limits(limits=1, user_api="blas"):
            return _sampled_loop(self._step, state, cfg, n_rows=self.n_rows, tol=tol,
                                 early_stop=early_stop, on_step=on_step)

    def close(self):
        """Nothing to free."""


class ChunkRows:
    """Rows of a Dask array whose chunks are in memory, sampled where they live.

    Every chunk is prepared once (finiteness checked; not shuffled) and held, as futures on a
    cluster; a non-persisted array is therefore read into memory once, whole.

    Parameters
    ----------
    X : dask.array.Array of shape (n, d)
    sample_weight : dask.array.Array of shape (n,) or None
    executor : LocalExecutor or ClusterExecutor
    """

    def __init__(self, X, sample_weight, executor):
        self.X, self.offsets = chunk_layout(X)
        self.w = None if sample_weight is None else sample_weight.rechunk((self.X.chunks[0],))
        self.n_rows = int(self.offsets[-1])
        self.executor = executor
        ids = np.arange(self.X.numblocks[0])
        self.handles = executor.resolve(executor.load(self.X, self.w, ids, self.offsets, seed=0,
                                                      n_pass=0, shuffle=False))

    def init_sample(self, seed, size, *, seeds_centers=True):
        """``size`` rows drawn uniformly from all rows (whatever ``seeds_centers``)."""
        idx = np.sort(sample_indices(seed, self.n_rows, size))
        return self.executor.rows(self.handles, _selection(idx, self.offsets))

    def _step(self, state, idx):
        due, state.n_since_reassign = reassignment_due(state.counts, state.n_since_reassign,
                                                       len(idx))
        p = self.executor.partials(self.handles, _selection(idx, self.offsets), state.centers,
                                   state.shift)

        def fetch(positions):
            return self.executor.rows(self.handles, _selection(idx[positions], self.offsets))[0]

        return apply_step(state, p.sums[0], p.counts[0], p.inertia[0], len(idx), due=due,
                          reassignment_ratio=self._ratio, fetch_rows=fetch)

    def run(self, state, cfg, *, tol, early_stop=True, on_step=None):
        self._ratio = cfg.reassignment_ratio
        return _sampled_loop(self._step, state, cfg, n_rows=self.n_rows, tol=tol,
                             early_stop=early_stop, on_step=on_step)

    def close(self):
        self.executor.release(self.handles)
        self.handles = []
        self.executor.close()


class StreamRows:
    """Rows read chunk group by chunk group, each chunk once per epoch (see the module docs).

    Parameters
    ----------
    X : dask.array.Array or ndarray of shape (n, d)
        An ndarray is one chunk (``partial_fit`` on a block larger than a batch).
    sample_weight : dask.array.Array, ndarray of shape (n,), or None
    executor : LocalExecutor or ClusterExecutor
    stream_chunks : int
        Chunks per group.
    """

    def __init__(self, X, sample_weight, executor, *, stream_chunks=4):
        self.in_memory = not isinstance(X, da.Array)
        if self.in_memory:
            self.X, self.w = X, sample_weight
            self.offsets = np.array([0, X.shape[0]], dtype=np.int64)
        else:
            self.X, self.offsets = chunk_layout(X)
            self.w = None if sample_weight is None else sample_weight.rechunk(
                (self.X.chunks[0],))
        self.lengths = np.diff(self.offsets)
        self.n_rows = int(self.offsets[-1])
        self.executor = executor
        self.stream_chunks = stream_chunks
        self._first = None  # (pass, ids, handles) read for the initialisation sample

    def _n_groups(self):
        """Groups per epoch."""
        return -(-len(self.lengths) // self.stream_chunks)

    def _groups(self, seed, first_pass, n_passes):
        n_chunks = len(self.lengths)
        for p in range(first_pass, first_pass + n_passes):
            order = chunk_order(seed, p, n_chunks)
            for ids in np.array_split(order, self._n_groups()):
                yield p, ids

    def _load(self, seed, item):
        n_pass, ids = item
        if self.in_memory:
            return [prepare_chunk(self.X, self.w, 0, seed, n_pass, True)]
        return self.executor.load(self.X, self.w, ids, self.offsets, seed=seed, n_pass=n_pass,
                                  shuffle=True)

    def init_sample(self, seed, size, *, seeds_centers=True):
        """About ``size`` rows: from every chunk in proportion to its rows, or from the first
        group only when they do not seed the centres.

        A chunk gives the first rows of its first epoch's shuffle, a uniform sample of it.
        Seeding centres from the first group alone would miss every cluster whose rows sit in
        other chunks, as they do in files written sorted or partitioned by a key; so when the
        epoch has several groups, a sample that seeds centres reads the data once more, group
        by group. An explicit ``init`` needs the sample only for the centring point and
        ``tol``, and takes it from the first group, which the first steps then use.

        Parameters
        ----------
        seed : int
        size : int
        seeds_centers : bool, default True
            False when ``init`` is an array of centres.

        Returns
        -------
        rows : ndarray of shape (m, d), float64
            In chunk order (the group's order when taken from one group), so a sample of
            every chunk does not depend on ``stream_chunks``; ``m`` is ``size`` rounded up by
            at most one row per chunk.
        weights : ndarray of shape (m,) or None
        """
        groups = list(self._groups(seed, 0, 1))
        if len(groups) == 1 or not seeds_centers:  # keep the group for the first steps
            item = groups[0]
            handles = self.executor.resolve(self._load(seed, item))
            self._first = (item[0], tuple(item[1]), handles)
            take = _shares(size, self.lengths[item[1]])
            return self.executor.rows(handles, [(j, np.arange(m)) for j, m in enumerate(take)])
        shares = _shares(size, self.lengths)
        by_chunk = {}
        pending = self._load(seed, groups[0])
        for g, (_, ids) in enumerate(groups):
            handles = self.executor.resolve(pending)
            if g + 1 < len(groups):
                pending = self._load(seed, groups[g + 1])  # reads while these rows are taken
            taken, taken_w = self.executor.rows(
                handles, [(j, np.arange(shares[i])) for j, i in enumerate(ids)])
            self.executor.release(handles)
            bounds = np.cumsum([0] + [int(shares[i]) for i in ids])
            for j, i in enumerate(ids):
                part = slice(bounds[j], bounds[j + 1])
                by_chunk[int(i)] = (taken[part], None if taken_w is None else taken_w[part])
        return concat_rows([by_chunk[i] for i in sorted(by_chunk)])

    def run(self, state, cfg, *, tol, early_stop=True, max_passes=None, on_step=None):
        """Stream ``max_passes`` epochs (default ``cfg.max_iter``) or until early stopping."""
        seed = state.seed
        max_passes = cfg.max_iter if max_passes is None else max_passes
        b = min(cfg.batch_size, self.n_rows)
        monitor = EarlyStopping(b, self.n_rows, tol, cfg.max_no_improvement) \
            if early_stop else None
        plan = self._groups(seed, state.n_passes, max_passes)
        first_pass, n_steps, n_rows, converged = state.n_passes, 0, 0, False
        queue = deque()

        def read_ahead():
            item = next(plan, None)
            if item is None:
                return
            if self._first is not None and (self._first[0], self._first[1]) == (
                    item[0], tuple(item[1])):
                queue.append((item, self._first[2]))
            else:
                queue.append((item, self._load(seed, item)))
            self._first = None

        read_ahead()
        while queue:
            (n_pass, ids), pending = queue.popleft()
            handles = self.executor.resolve(pending)
            read_ahead()  # the next group reads while this one runs
            group_rows = int(sum(self.lengths[i] for i in ids))
            steps = max(1, int(round(group_rows / b)))
            state.n_passes = max(state.n_passes, n_pass + 1)
            before = state.n_steps
            # until every chunk has been read once, a centre's low count may only mean that its
            # rows sit in chunks not read yet, and a rising batch inertia that harder chunks
            # came (files sorted or partitioned by a key): no reassignment or early stop before
            first_read = n_pass == 0 and self._n_groups() > 1
            plan_ = GroupPlan(steps, 0.0 if first_read else cfg.reassignment_ratio,
                              may_stop=not first_read)
            if self.in_memory or not self.executor.is_cluster:
                result = run_group(state, monitor, plan_, *handles)
            else:
                result = self.executor.run_group(handles, state, monitor, plan_)
            state, monitor, outcomes, stopped = result
            self.executor.release(handles)
            for i, outcome in enumerate(outcomes):
                n_rows += outcome.n_rows
                if on_step is not None:
                    on_step(before + i + 1, outcome)
            n_steps += len(outcomes)
            if stopped:
                converged = True
                break
        for _, pending in queue:  # read ahead but not needed: early stop
            if not self.in_memory:
                self.executor.release(self.executor.resolve(pending))
        logger.info("mini-batch streaming: %d steps over %d pass(es), %d rows", n_steps,
                    state.n_passes - first_pass, n_rows)
        return RunResult(state, n_steps, n_rows, converged, monitor)

    def close(self):
        if self._first is not None and not self.in_memory:
            self.executor.release(self._first[2])
        self._first = None
        self.executor.close()


def _shares(size, lengths):
    """Rows to take from each chunk for a sample of about ``size``: in proportion to
    ``lengths``, rounded up, at most the whole chunk."""
    return np.minimum(lengths, -(-size * lengths // max(int(lengths.sum()), 1)))


def open_rows(X, sample_weight=None, *, streaming="auto", stream_chunks=4):
    """The row source for an input: NumPy → sampled in process; Dask → sampled where the
    chunks live when they are in memory, streamed otherwise (``streaming`` forces either)."""
    if not isinstance(X, da.Array):
        if streaming is True:
            return StreamRows(X, sample_weight, LocalExecutor(), stream_chunks=stream_chunks)
        return InMemoryRows(X, sample_weight)
    executor = make_executor(True)
    stream = (not is_in_memory(X)) if streaming == "auto" else bool(streaming)
    if stream:
        return StreamRows(X, sample_weight, executor, stream_chunks=stream_chunks)
    return ChunkRows(X, sample_weight, executor)


def init_on_sample(rows, weights, n_clusters, *, init, n_init, seed, oversampling_factor=2.0,
                   init_rounds=2, n_fit=None):
    """Initial centres computed on a sample held in memory (so they cost no pass).

    With several restarts each is scored on the rows past ``n_fit`` (the validation part of the
    sample, as scikit-learn's ``init_size`` validation set) and the cheapest is kept.

    Parameters
    ----------
    rows : ndarray of shape (m, d), float64
    weights : ndarray of shape (m,) or None
    init : {'k-means||', 'k-means++', 'random'} or ndarray of shape (k, d)
    n_init : int
    n_fit : int, optional
        Rows used to seed; default all.

    Returns
    -------
    centers : ndarray of shape (k, d), float64, uncentred
    shift : ndarray of shape (d,), float64
        The (weighted) mean of the sample: the point the fit is centred on.
    """
    n_fit = rows.shape[0] if n_fit is None else n_fit
    if n_fit < rows.shape[0]:  # seeding and validation parts: a random split of the sample
        order = sample_indices(seed, rows.shape[0], rows.shape[0], stream=STREAM_INIT + 1)
        rows, weights = rows[order], None if weights is None else weights[order]
    fit_rows, fit_w = rows[:n_fit], None if weights is None else weights[:n_fit]
    total = 0.0 if fit_w is None else float(fit_w.sum())
    shift = np.average(fit_rows, axis=0, weights=fit_w if total > 0 else None)
    if not isinstance(init, str):
        return np.asarray(init, dtype=np.float64), shift
    backend = LocalBackend(fit_rows, fit_w, n_threads=1)
    starts = []
    for run in range(n_init):
        run_seed = seed if run == 0 else int(stream_key(seed, 50_000 + run) >> np.uint64(1))
        if init == "k-means||":
            starts.append(kmeans_parallel(backend, n_clusters, seed=run_seed, shift=shift,
                                          oversampling_factor=oversampling_factor,
                                          rounds=init_rounds))
        elif init == "k-means++":
            starts.append(kmeans_plusplus_init(backend, n_clusters, seed=run_seed, shift=shift))
        else:
            starts.append(random_init(backend, n_clusters, seed=run_seed))
    if len(starts) == 1 or rows.shape[0] <= n_fit:
        return starts[0], shift
    valid = rows[n_fit:]
    valid_w = None if weights is None else weights[n_fit:]
    costs = [batch_partials(valid, c - shift, shift, valid_w).inertia[0] for c in starts]
    return starts[int(np.argmin(costs))], shift


def minibatch_fit(rows, cfg, *, seed, init_size, make_state, seeds_centers=True,
                  on_step=None):
    """Initialise on a sample, then run mini-batch steps until early stopping or ``max_iter``.

    Parameters
    ----------
    rows : InMemoryRows, ChunkRows or StreamRows
    cfg : MiniBatchConfig
    seed : int
    init_size : int
        Rows drawn for the initialisation sample (streaming: from every chunk, in proportion
        to its rows).
    make_state : callable
        ``make_state(sample_rows, sample_weights) -> MiniBatchState``.
    seeds_centers : bool, default True
        Whether the sample seeds the centres (False: ``init`` is an array).
    on_step : callable, optional
        ``on_step(step_number, StepOutcome)`` after every step.

    Returns
    -------
    RunResult
    """
    sample, sample_w = rows.init_sample(seed, init_size, seeds_centers=seeds_centers)
    state = make_state(sample, sample_w)
    tol = cfg.tol * float(np.mean(np.var(sample, axis=0))) if cfg.tol > 0 else 0.0
    return rows.run(state, cfg, tol=tol, early_stop=True, on_step=on_step)
