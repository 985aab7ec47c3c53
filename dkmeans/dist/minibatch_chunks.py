"""Where a mini-batch fit's rows live: chunks in this process, or chunks on a Dask cluster.

Both executors offer the same calls, so :mod:`dkmeans.dist.minibatch` drives either:

- ``load(X, w, ids, ...)`` starts reading and preparing some row chunks of a Dask array (a
  finiteness check and, when streaming, a keyed shuffle of the chunk's rows) and returns a
  pending handle; ``resolve`` waits for it. On a cluster the prepared chunks stay on the workers
  as futures; in process they are arrays.
- ``partials(handles, selection, centers, shift)``: each chunk sums its selected rows per centre
  where it lives; the partials are combined in a fixed tree and only that comes back.
- ``rows(handles, selection)``: a few rows (initialisation sample, reassignment targets).
- ``run_group(handles, ...)``: the several mini-batch steps of one streaming group, in one task.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import dask
import numpy as np
from dask.highlevelgraph import HighLevelGraph
from threadpoolctl import threadpool_limits

from dkmeans.dist.graph import layer_names, tree_reduce_layer
from dkmeans.kernels.minibatch import batch_partials, shuffled_rows, step_bounds, step_on_rows
from dkmeans.kernels.partials import combine_partials

logger = logging.getLogger(__name__)

#: Rows checked for NaN/inf at a time (bounds the temporary boolean array).
_CHECK_ROWS = 1 << 16


def check_finite_rows(X, row_offset=0):
    """Raise ``ValueError`` naming the count and first global row holding NaN or infinity."""
    bad_total, first = 0, -1
    for start in range(0, X.shape[0], _CHECK_ROWS):
        block = X[start: start + _CHECK_ROWS]
        if np.isfinite(block.sum()):  # fast path: a finite sum means finite entries
            continue
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            bad_total += int(bad.sum())
            first = first if first >= 0 else row_offset + start + int(np.argmax(bad))
    if bad_total:
        raise ValueError(f"Input X contains NaN or infinity: {bad_total} row(s), the first at "
                         f"row {first}.")


def prepare_chunk(x, w, row_offset, seed, n_pass, shuffle):
    """Check one chunk and, when streaming, shuffle its rows (keyed by seed, pass and row).

    Returns
    -------
    tuple (x, w)
        ``x`` of shape (n, d) C-contiguous, ``w`` of shape (n,) or None.
    """
    x = np.asarray(x)
    check_finite_rows(x, row_offset)
    if shuffle and x.shape[0] > 1:
        order = shuffled_rows(seed, n_pass, row_offset, x.shape[0])
        return np.take(x, order, axis=0), None if w is None else np.take(np.asarray(w), order)
    return np.ascontiguousarray(x), None if w is None else np.asarray(w)


def _take_partials(handle, idx, args):
    x, w = handle
    centers, shift = args
    return batch_partials(x[idx], centers, shift, None if w is None else w[idx])


def _take_rows(handle, idx):
    x, w = handle
    return np.asarray(x[idx], dtype=np.float64), (None if w is None else w[idx])


def concat_rows(parts):
    """One ``(rows, weights)`` from several; weights are None only when all parts' are."""
    rows = np.concatenate([p[0] for p in parts])
    if all(p[1] is None for p in parts):
        return rows, None
    return rows, np.concatenate([np.ones(len(p[0])) if p[1] is None else p[1] for p in parts])


class GroupPlan(NamedTuple):
    """How one streaming group runs its steps.

    Attributes
    ----------
    n_steps : int
    reassignment_ratio : float
        0 turns reassignment off for the group.
    may_stop : bool
        Whether early stopping may end the fit in this group (the monitor is updated anyway).
    """

    n_steps: int
    reassignment_ratio: float
    may_stop: bool = True


def run_group(state, monitor, plan, *handles):
    """The mini-batch steps of one streaming group, one after the other, where it runs.

    Step ``j`` takes slice ``j`` of each (shuffled) chunk: a batch drawn from every chunk of
    the group, each row used once.

    Parameters
    ----------
    state : MiniBatchState
    monitor : EarlyStopping or None
        None: no early stopping (``partial_fit``).
    plan : GroupPlan
    *handles : tuple (x, w)
        The group's prepared chunks.

    Returns
    -------
    state : MiniBatchState
    monitor : EarlyStopping or None
    outcomes : list of StepOutcome
    stopped : bool
    """
    n_steps, ratio = plan.n_steps, plan.reassignment_ratio
    bounds = [step_bounds(h[0].shape[0], n_steps) for h in handles]
    weighted = any(h[1] is not None for h in handles)
    outcomes = []
    with threadpool_limits(limits=1, user_api="blas"):
        for j in range(n_steps):
            xs = [h[0][b[j]: b[j + 1]] for h, b in zip(handles, bounds)]
            xb = np.concatenate(xs) if len(xs) > 1 else xs[0]
            if xb.shape[0] == 0:
                continue
            wb = None
            if weighted:
                wb = np.concatenate([np.ones(b[j + 1] - b[j]) if h[1] is None
                                     else h[1][b[j]: b[j + 1]] for h, b in zip(handles, bounds)])
            outcome = step_on_rows(state, xb, wb, reassignment_ratio=ratio)
            outcomes.append(outcome)
            if monitor is not None and monitor.update(outcome) and plan.may_stop:
                return state, monitor, outcomes, True
    return state, monitor, outcomes, False


def _culled(X, w, ids, dsk, name):
    deps = [X] if w is None else [X, w]
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    return graph.cull(set(dsk))


def _prepare_layer(X, w, ids, offsets, seed, n_pass, shuffle):
    name = layer_names("minibatch-read")["partials"]
    dsk = {}
    for j, i in enumerate(ids):
        w_key = None if w is None else (w.name, int(i))
        dsk[(name, j)] = (prepare_chunk, (X.name, int(i), 0), w_key, int(offsets[i]), seed,
                          n_pass, shuffle)
    return name, dsk


class LocalExecutor:
    """Chunks held in this process (NumPy input, or a Dask array without a distributed client).

    Dask chunks are computed by the local threaded scheduler in a background thread, so the next
    group reads while the current one runs.
    """

    is_cluster = False

    def __init__(self):
        self._pool = None

    def load(self, X, w, ids, offsets, *, seed, n_pass, shuffle):
        name, dsk = _prepare_layer(X, w, ids, offsets, seed, n_pass, shuffle)
        graph = _culled(X, w, ids, dsk, name)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="dkmeans-minibatch-read")
        return self._pool.submit(dask.threaded.get, graph, list(dsk))

    def resolve(self, pending):
        return list(pending.result()) if isinstance(pending, Future) else list(pending)

    def partials(self, handles, selection, centers, shift):
        return combine_partials([_take_partials(handles[c], idx, (centers, shift))
                                 for c, idx in selection])

    def rows(self, handles, selection):
        return concat_rows([_take_rows(handles[c], idx) for c, idx in selection])

    def run_group(self, handles, state, monitor, plan):
        return run_group(state, monitor, plan, *handles)

    def release(self, handles):
        """Nothing to free beyond dropping the references."""

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class ClusterExecutor:
    """Chunks on the workers of a ``distributed.Client``, held as futures between steps.

    Parameters
    ----------
    client : distributed.Client
    split_every : int, default 8
        Fan-in of the tree that combines the chunks' partial sums.
    """

    is_cluster = True

    def __init__(self, client, *, split_every=8):
        self.client = client
        self.split_every = split_every

    def load(self, X, w, ids, offsets, *, seed, n_pass, shuffle):
        name, dsk = _prepare_layer(X, w, ids, offsets, seed, n_pass, shuffle)
        return self.client.get(_culled(X, w, ids, dsk, name), list(dsk), sync=False)

    def resolve(self, pending):
        return list(pending)

    def _reduce(self, fn, handles, selection, args, combine, phase):
        names = layer_names(phase)
        dsk = {names["args"]: args} if args is not None else {}
        keys = []
        for j, (c, idx) in enumerate(selection):
            task = (fn, handles[c], idx) + ((names["args"],) if args is not None else ())
            dsk[(names["partials"], j)] = task
            keys.append((names["partials"], j))
        tree, final = tree_reduce_layer(keys, combine, name=names["combine"],
                                        split_every=self.split_every)
        dsk.update(tree)
        # the one synchronisation of a step: the update needs every chunk's share of the batch
        return self.client.get(dsk, final)

    def partials(self, handles, selection, centers, shift):
        return self._reduce(_take_partials, handles, selection, (centers, shift),
                            combine_partials, "minibatch-step")

    def rows(self, handles, selection):
        return self._reduce(_take_rows, handles, selection, None, concat_rows,
                            "minibatch-rows")

    def run_group(self, handles, state, monitor, plan):
        key = layer_names("minibatch-group")["partials"]
        return self.client.submit(run_group, state, monitor, plan, *handles, key=key,
                                  pure=False).result()

    def release(self, handles):
        for h in handles:
            if hasattr(h, "release"):
                h.release()

    def close(self):
        """Nothing held beyond the futures released by the driver."""


def current_client():
    """The current ``distributed.Client``, or None."""
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def make_executor(is_dask):
    """A cluster executor for Dask input under a client, a local one otherwise."""
    client = current_client() if is_dask else None
    return ClusterExecutor(client) if client is not None else LocalExecutor()


def chunk_layout(X):
    """Row offsets and lengths of a Dask array's row chunks (computed if unknown: one pass).

    Returns
    -------
    X : dask.array.Array
        Row-chunked, one column chunk, known chunk lengths.
    offsets : ndarray of shape (n_chunks + 1,), int64
    """
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    if any(math.isnan(c) for c in X.chunks[0]):
        logger.warning("chunk lengths unknown: computing them costs one pass over the data")
        X = X.compute_chunk_sizes()
    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
    return X, offsets
