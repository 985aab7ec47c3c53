"""Where chunk functions run: threads over a NumPy array, or Dask tasks over a Dask array.

Both backends offer the same two calls, so the drivers (Lloyd, k-means||) are written once:

- ``reduce(fn, combine, args=..., phase=...)``: ``fn(x, w, row_offset, *args)`` on every row
  chunk, then ``combine`` in a fixed tree; returns the combined value to the caller.
- ``reduce_with_state(...)``: the same, but ``fn`` also receives and returns per-chunk state
  (for example each row's distance to its nearest candidate) that stays where the chunk lives.
  A caller that passes each state on to the next pass only (``chained_state=True``) lets it
  stay in the direct-pass actors, so a chain of short stateful passes skips the scheduler
  too, and lets ``fn`` update it in place wherever nothing else can still read it.

``fn`` must be a module-level function (picklable); large arguments travel in ``args``, which
enter the graph once per call, never captured in closures.

On data persisted on a cluster, ``reduce`` runs one task per worker thread over the chunks that
worker holds, spread out once where the workers hold them very unevenly
(:mod:`dkmeans.dist.placement`); results still combine in the per-chunk tree. A phase's
repeated short passes then skip the scheduler altogether (:mod:`dkmeans.dist.direct`).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import dask
import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

from dkmeans.dist.direct import DirectPasses, DirectState, DirectUnavailable, StateLost
from dkmeans.dist.graph import graph_from_layer, layer_names, tree_reduce_layer
from dkmeans.dist.placement import grouped_layer, per_chunk_layer, pinned, place_chunks
from dkmeans.kernels.blas import single_threaded_blas

logger = logging.getLogger(__name__)

#: A NumPy input is cut into equal chunks of about this many bytes, their number a multiple
#: of ``LOCAL_CHUNK_MULTIPLE`` so that 1, 2 or 4 threads share them evenly. The cut depends
#: only on the array, never on the number of threads, so neither do the results. Measured
#: with 2 threads against the former fixed 65,536-row chunks: 10-25% faster per Lloyd
#: iteration on S, M and K of ``make bench`` (median of 15 passes).
LOCAL_CHUNK_BYTES = 16 << 20
LOCAL_CHUNK_MULTIPLE = 4


def local_chunk_rows(n_rows, row_bytes):
    """Rows per chunk of an in-memory array of ``n_rows`` rows of ``row_bytes`` bytes."""
    n_chunks = math.ceil(n_rows * row_bytes / LOCAL_CHUNK_BYTES)
    if n_chunks > 1:
        n_chunks = LOCAL_CHUNK_MULTIPLE * math.ceil(n_chunks / LOCAL_CHUNK_MULTIPLE)
    return max(1, math.ceil(n_rows / max(n_chunks, 1)))

#: Default maximum fan-in of the tree reduction.
SPLIT_EVERY = 8

#: Up to this many bytes of per-chunk results in all, a grouped pass sends them to the client,
#: which combines them itself; above it a tree of combine tasks on the workers does.
CLIENT_COMBINE_BYTES = 8 << 20

#: Once a task pass of a phase took less than this (seconds), the phase's later passes with
#: client-combined results go straight to the workers (:mod:`dkmeans.dist.direct`), where the
#: scheduler's round trip (about 10 ms) is a real share of the pass. Longer passes stay tasks,
#: shown one by one on the dashboard; the first pass of every phase is a task pass, so each
#: phase appears there under its name. 0 keeps every pass a task.
DIRECT_PASS_SECONDS = 1.0


_pools = {}
_pools_lock = threading.Lock()


def _thread_pool(n_threads):
    """A process-wide pool per size: creating threads on every pass costs milliseconds."""
    with _pools_lock:
        pool = _pools.get(n_threads)
        if pool is None:
            pool = _pools[n_threads] = ThreadPoolExecutor(n_threads,
                                                          thread_name_prefix="dkmeans")
        return pool


def _first(pair):
    return pair[0]


def _second(pair):
    return pair[1]


class LocalBackend:
    """Chunks of an in-memory array processed by a thread pool.

    The compiled kernels release the GIL and BLAS is limited to one thread inside the pool,
    so ``n_threads`` chunks run truly in parallel, as scikit-learn's OpenMP loop does.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    sample_weight : ndarray of shape (n,) or None
    n_threads : int, optional
        Default: the number of CPUs.
    chunk_rows : int, optional
        Rows per chunk; default :func:`local_chunk_rows`.
    """

    def __init__(self, X, sample_weight=None, *, n_threads=None, chunk_rows=None):
        self.X = X
        self.sample_weight = sample_weight
        self.n_rows, self.n_features = X.shape
        self.dtype = X.dtype
        if chunk_rows is None:
            chunk_rows = local_chunk_rows(self.n_rows, self.n_features * X.dtype.itemsize)
        bounds = list(range(0, self.n_rows, chunk_rows)) + [self.n_rows]
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])] or [slice(0, 0)]
        self.row_offsets = [s.start for s in self.slices]
        self.n_threads = n_threads or _cpu_count()
        self.is_dask = False

    def _run(self, fn, args, states=None):
        w = self.sample_weight
        stateful = states is not None
        jobs = [
            (fn, self.X[s], None if w is None else w[s], s.start, stateful,
             states[i] if stateful else None, args)
            for i, s in enumerate(self.slices)
        ]
        with single_threaded_blas():
            if self.n_threads == 1 or len(jobs) == 1:
                return [_apply_packed(*job) for job in jobs]
            return list(_thread_pool(self.n_threads).map(lambda job: _apply_packed(*job), jobs))

    def reduce(self, fn, combine, *, args=(), phase="reduce", split_every=SPLIT_EVERY,
               result_nbytes=None):
        return _tree_combine_local(self._run(fn, args), combine, split_every)

    def reduce_with_state(self, fn, combine, state, *, args=(), phase="reduce",
                          split_every=SPLIT_EVERY, chained_state=False, row_work=None):
        """See :meth:`DaskBackend.reduce_with_state`; a chained state is this process's own,
        so ``fn`` may always update it in place."""
        states = state if state is not None else [None] * len(self.slices)
        pairs = self._run(_owning(fn) if chained_state else fn, args, states)
        return [p[0] for p in pairs], _tree_combine_local([p[1] for p in pairs], combine,
                                                          split_every)

    def map_rows(self, fn, *, args=(), phase="map", dtype=None, trailing_shape=()):
        """``fn(x, w, row_offset, *args)`` on every chunk, results concatenated (axis 0)."""
        return np.concatenate(self._run(fn, args), axis=0)

    def release(self, state):
        """Drop per-chunk state (nothing to do in memory)."""

    def close(self):
        """Nothing is held outside this process."""

    def state_rows(self, state, pick, *, dtype, phase="state"):
        """``pick(chunk_state)`` of every chunk, concatenated (rows)."""
        return np.concatenate([pick(s) for s in state])

    def take_rows(self, index):
        """Rows at the given global indices, shape (len(index), d), float64."""
        return np.asarray(self.X[np.asarray(index)], dtype=np.float64)


def _tree_combine_local(parts, combine, split_every):
    """The same tree as :func:`tree_reduce_layer`, evaluated in process."""
    current = list(parts)
    if len(current) == 1:
        return combine(current)
    while len(current) > 1:
        current = [combine(current[j: j + split_every])
                   for j in range(0, len(current), split_every)]
    return current[0]


class DaskBackend:
    """Row chunks of a Dask array, processed by whatever scheduler is current.

    With a ``distributed.Client`` the tasks run on its workers and per-chunk state stays there
    as futures; otherwise the local threaded scheduler runs them in this process.

    Parameters
    ----------
    X : dask.array.Array of shape (n, d)
        Row-chunked only (a single column chunk) with known chunk lengths.
    sample_weight : dask.array.Array of shape (n,) or None
        Chunked like ``X``'s rows.
    """

    def __init__(self, X, sample_weight=None, *, split_every=SPLIT_EVERY):
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        if any(math.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        self.X = X
        if sample_weight is not None:
            sample_weight = sample_weight.rechunk((X.chunks[0],))
        self.sample_weight = sample_weight
        self.n_rows, self.n_features = (int(s) for s in X.shape)
        self.dtype = X.dtype
        self.row_offsets = [int(v) for v in np.cumsum((0,) + X.chunks[0][:-1])]
        self.split_every = split_every
        self.is_dask = True
        self._placement = None
        self._last_results = None
        self._direct = None  # DirectPasses once started; False once ruled out
        self._task_pass_seconds = {}

    @property
    def n_chunks(self):
        return self.X.numblocks[0]

    def _client(self):
        try:
            from distributed import get_client

            return get_client()
        except (ImportError, ValueError):
            return None

    def _chunk_layer(self, fn, args, states, names, stateful):
        dsk = {names["args"]: tuple(args)}
        w_name = None if self.sample_weight is None else self.sample_weight.name
        for i, offset in enumerate(self.row_offsets):
            w_key = None if w_name is None else (w_name, i)
            state = states[i] if stateful else None
            dsk[(names["partials"], i)] = (
                _apply_packed, fn, (self.X.name, i, 0), w_key, offset, stateful, state,
                names["args"],
            )
        return dsk

    def _dependencies(self):
        return [self.X] + ([self.sample_weight] if self.sample_weight is not None else [])

    def reduce_graph(self, fn, combine, *, args=(), phase="reduce", split_every=None):
        """The graph of :meth:`reduce`, uncomputed.

        Returns
        -------
        graph : HighLevelGraph
        final_key : key
        """
        names = layer_names(phase)
        dsk = self._chunk_layer(fn, args, None, names, stateful=False)
        keys = [(names["partials"], i) for i in range(self.n_chunks)]
        tree, final = tree_reduce_layer(keys, combine, name=names["combine"],
                                        split_every=split_every or self.split_every)
        dsk.update(tree)
        return graph_from_layer(names["partials"], dsk, self._dependencies()), final

    def reduce(self, fn, combine, *, args=(), phase="reduce", split_every=None,
               result_nbytes=None):
        """``fn`` on every chunk, combined in the fixed tree; see the module docstring.

        Parameters
        ----------
        result_nbytes : int, optional
            About how large one chunk's result is. For data persisted on a cluster, results
            small in all are combined by the client; unknown (None) or large ones by tasks
            on the workers.
        """
        split_every = split_every or self.split_every
        client = self._client()
        placement = None if client is None else self._placed(client)
        if placement is not None:
            return self._reduce_grouped(client, placement, fn, combine, args, phase,
                                        split_every, result_nbytes)
        graph, final = self.reduce_graph(fn, combine, args=args, phase=phase,
                                         split_every=split_every)
        if client is not None:
            return self._compute(client, graph, final)
        with single_threaded_blas():
            return dask.threaded.get(graph, final)

    def _placed(self, client):
        """Chunks grouped by worker thread (decided once), or None when not persisted."""
        if self._placement is None:
            self._placement = place_chunks(client, self.X, self.sample_weight)
        return self._placement

    def _reduce_grouped(self, client, placement, fn, combine, args, phase, split_every,
                        result_nbytes):
        """One task per worker thread over the chunks it holds, then the per-chunk tree.

        Small results travel to the client, which combines them (one hop fewer per pass);
        large ones are combined by a tree of tasks on the workers. Both follow the same
        per-chunk tree as :meth:`reduce_graph`, so the result does not depend on placement.
        """
        names = layer_names(phase)
        client_combines = (result_nbytes is not None
                           and self.n_chunks * result_nbytes <= CLIENT_COMBINE_BYTES)
        parts = self._direct_parts(client, placement, fn, args, phase) if client_combines else None
        if parts is not None:
            return _tree_combine_local(parts, combine, split_every)
        dsk, group_keys, where = grouped_layer(placement, fn, args, self.row_offsets, names)
        if client_combines:
            started = time.perf_counter()
            graph = graph_from_layer(names["partials"], dsk, self._dependencies())
            results = self._compute(client, graph, group_keys)
            self._task_pass_seconds[phase] = time.perf_counter() - started
            return _tree_combine_local([results[g][pos] for g, pos in where], combine,
                                       split_every)
        part_keys = per_chunk_layer(dsk, group_keys, where,
                                    names["partials"].replace("-partials-", "-part-"))
        tree, final = tree_reduce_layer(part_keys, combine, name=names["combine"],
                                        split_every=split_every)
        dsk.update(tree)
        graph = graph_from_layer(names["partials"], dsk, self._dependencies())
        return self._compute(client, graph, final)

    def _direct_parts(self, client, placement, fn, args, phase):
        """Per-chunk results of a pass sent straight to the workers, or None to run tasks:
        before the phase's first task pass, after a long one, or once a worker has left
        (then for good: the placement no longer says where the chunks are)."""
        seconds = self._task_pass_seconds.get(phase)
        if seconds is None or seconds >= DIRECT_PASS_SECONDS:
            return None
        direct = self._direct_passes(client, placement)
        if direct is None:
            return None
        parts = direct.run(fn, args)
        if parts is None:
            self._abandon_direct()
        return parts

    def _direct_passes(self, client, placement):
        """The direct-pass actors, started on first use; None once ruled out."""
        if self._direct is None:
            try:
                self._direct = DirectPasses(client, placement, self.X, self.sample_weight,
                                            self.row_offsets)
            except DirectUnavailable as error:
                logger.info("passes stay tasks: %s", error)
                self._direct = False
        return self._direct or None

    def _abandon_direct(self):
        """A worker holding an actor left: every later pass runs as tasks."""
        self._direct.close()
        self._direct = False

    def _short_passes(self):
        """Whether this data's passes are short enough for the direct route, as far as its
        task passes so far tell (the first pass of a fit reads every row)."""
        return any(s < DIRECT_PASS_SECONDS for s in self._task_pass_seconds.values())

    def close(self):
        """Let go of what the backend holds on the workers (the direct-pass actors)."""
        if self._direct:
            self._direct.close()
        self._direct = None

    def _compute(self, client, graph, keys):
        """``client.get(graph, keys)``, letting go of the previous pass's results only after
        this pass's graph is sent.

        The client batches its messages to the scheduler (10 ms apart at most); releasing the
        last results just before sending a graph would hold that graph back by up to that
        much, every pass.
        """
        futures = client.get(graph, keys, sync=False)
        self._last_results = futures
        return client.gather(futures)

    def reduce_with_state(self, fn, combine, state, *, args=(), phase="reduce",
                          split_every=None, chained_state=False, row_work=None):
        """``fn(x, w, row_offset, state, *args)`` -> ``(state, part)`` on every chunk; the
        parts combine in the fixed tree and come back, the states stay with their chunks.

        Parameters
        ----------
        chained_state : bool, default False
            The caller hands the returned state only to the next such call (as its
            ``state``, letting it go right after) or to :meth:`release`, never to
            :meth:`state_rows`. A chain of such passes over persisted data whose passes are
            short then runs through the direct-pass actors, which keep the states; when they
            lose them, :class:`StateLost` is raised and the caller starts the chain again
            (as tasks from then on). ``fn`` then takes a keyword ``state_owned``: True where
            nothing else can read the state it is given (in process, or in the actors), so
            it may update it in place; False in tasks, where a state is a task's result.
        row_work : float, optional
            Estimated multiply-adds of ``fn`` per row: a direct pass whose largest chunk
            comes to little work runs on the workers' event loops (see
            :mod:`dkmeans.dist.direct`).

        Returns
        -------
        states : list or DirectState
            One per chunk: futures on a cluster, values otherwise; or the actors' handle.
        combined : object
        """
        names = layer_names(phase)
        split_every = split_every or self.split_every
        client = self._client()
        placement = None if client is None else self._placed(client)
        if isinstance(state, DirectState) or (
                chained_state and state is None and placement is not None
                and self._short_passes()):
            chunk_work = None if row_work is None else row_work * max(self.X.chunks[0])
            result = self._direct_with_state(client, placement, fn, combine, state, args,
                                             split_every, chunk_work)
            if result is not None:
                return result
        states = state if state is not None else [None] * self.n_chunks
        if placement is not None:
            return self._reduce_with_state_grouped(client, placement, fn, combine, states,
                                                   args, names, split_every)
        dsk = self._chunk_layer(fn, args, states, names, stateful=True)
        pair_keys = [(names["partials"], i) for i in range(self.n_chunks)]
        state_name = names["partials"].replace("-partials-", "-state-")
        part_name = names["partials"].replace("-partials-", "-part-")
        state_keys, part_keys = [], []
        for i, key in enumerate(pair_keys):
            dsk[(state_name, i)] = (_first, key)
            dsk[(part_name, i)] = (_second, key)
            state_keys.append((state_name, i))
            part_keys.append((part_name, i))
        tree, final = tree_reduce_layer(part_keys, combine, name=names["combine"],
                                        split_every=split_every)
        dsk.update(tree)
        graph = graph_from_layer(names["partials"], dsk, self._dependencies())
        if client is not None:
            # state stays on the workers as futures; only the combined value comes back
            futures = client.get(graph, state_keys + [final], sync=False)
            combined = futures[-1].result()
            return futures[:-1], combined
        with single_threaded_blas():
            results = dask.threaded.get(graph, state_keys + [final])
        return list(results[:-1]), results[-1]

    def _direct_with_state(self, client, placement, fn, combine, state, args, split_every,
                           chunk_work):
        """:meth:`reduce_with_state` through the actors, or None to run tasks (only where no
        state is read: a chain whose states the actors hold cannot move to tasks)."""
        direct = self._direct_passes(client, placement) if state is None else self._direct
        if state is not None and (not direct or state.passes is not direct):
            raise StateLost("the workers holding the per-chunk state have left")
        result = None if direct is None else direct.run_with_state(_owning(fn), args, state,
                                                                   chunk_work=chunk_work)
        if result is None:
            if direct:
                self._abandon_direct()
            if state is not None:
                raise StateLost("a worker holding per-chunk state left")
            return None
        new_state, parts = result
        return new_state, _tree_combine_local(parts, combine, split_every)

    def _reduce_with_state_grouped(self, client, placement, fn, combine, states, args, names,
                                   split_every):
        """:meth:`reduce_with_state` as one task per worker thread (see
        :meth:`_reduce_grouped`); each chunk's state and part are then picked out of its
        group's result, so states stay on the worker that reads the chunk."""
        dsk, group_keys, where = grouped_layer(placement, fn, args, self.row_offsets, names,
                                               states=states)
        state_keys = per_chunk_layer(dsk, group_keys, where,
                                     names["partials"].replace("-partials-", "-state-"), field=0)
        part_keys = per_chunk_layer(dsk, group_keys, where,
                                    names["partials"].replace("-partials-", "-part-"), field=1)
        tree, final = tree_reduce_layer(part_keys, combine, name=names["combine"],
                                        split_every=split_every)
        dsk.update(tree)
        graph = graph_from_layer(names["partials"], dsk, self._dependencies())
        with pinned(placement, dsk, group_keys):
            futures = client.get(graph, state_keys + [final], sync=False)
        return futures[:-1], futures[-1].result()

    def map_rows(self, fn, *, args=(), phase="map", dtype=None, trailing_shape=()):
        """Lazy Dask array of ``fn(x, w, row_offset, *args)`` per chunk (rows along axis 0)."""
        names = layer_names(phase)
        dsk = self._chunk_layer(fn, args, None, names, stateful=False)
        graph = graph_from_layer(names["partials"], dsk, self._dependencies())
        chunks = (self.X.chunks[0],) + tuple((s,) for s in trailing_shape)
        if trailing_shape:
            dsk2 = {(names["partials"] + "-nd", i) + (0,) * len(trailing_shape):
                    (names["partials"], i) for i in range(self.n_chunks)}
            graph = graph_from_layer(names["partials"] + "-nd", dsk2,
                                     [da.Array(graph, names["partials"],
                                               (self.X.chunks[0],), dtype=dtype)])
            return da.Array(graph, names["partials"] + "-nd", chunks, dtype=dtype)
        return da.Array(graph, names["partials"], chunks, dtype=dtype)

    def state_rows(self, state, pick, *, dtype, phase="state"):
        """A Dask array (rows chunked like ``X``) of ``pick(chunk_state)`` for each chunk.

        The per-chunk state stays where it was computed (futures on the workers, or arrays
        in process); nothing is recomputed.
        """
        names = layer_names(phase)
        dsk = {(names["partials"], i): (pick, s) for i, s in enumerate(state)}
        graph = HighLevelGraph.from_collections(names["partials"], dsk, dependencies=[])
        return da.Array(graph, names["partials"], (self.X.chunks[0],), dtype=dtype)

    def take_rows(self, index):
        """Rows at the given global indices, shape (len(index), d), float64 (one small compute,
        or a call to the direct-pass actors where passes are short)."""
        index = np.asarray(index, dtype=np.int64)
        client = self._client()
        placement = None if client is None else self._placed(client)
        if placement is not None and self._short_passes():
            direct = self._direct_passes(client, placement)
            found = None if direct is None else direct.run(_rows_in_chunk, (index,))
            if found is not None:
                return _rows_in_order(found, index, self.n_features)
            if direct:
                self._abandon_direct()
        rows = self.X[index]
        if client is not None:
            return np.asarray(client.compute(rows).result(), dtype=np.float64)
        return np.asarray(rows.compute(scheduler="threads"), dtype=np.float64)

    def release(self, state):
        """Let go of per-chunk state (futures, or the actors' states) so the workers can free
        it."""
        if isinstance(state, DirectState):
            state.release()
        elif state is not None:
            for s in state:
                if hasattr(s, "release"):
                    s.release()


def _owning(fn):
    """``fn`` told that it may update the state it is given in place (see
    :meth:`DaskBackend.reduce_with_state`)."""
    return functools.partial(fn, state_owned=True)


def _rows_in_chunk(x, w, offset, index):
    """The chunk's rows among global indices ``index``: (positions in ``index``, rows)."""
    inside = np.flatnonzero((index >= offset) & (index < offset + len(x)))
    return inside, np.asarray(x[index[inside] - offset], dtype=np.float64)


def _rows_in_order(found, index, n_features):
    """Rows at ``index`` gathered from :func:`_rows_in_chunk` results of every chunk."""
    rows = np.empty((len(index), n_features))
    for inside, values in found:
        rows[inside] = values
    return rows


def _apply_packed(fn, x, w, offset, stateful, state, args):
    if stateful:
        return fn(x, w, offset, state, *args)
    return fn(x, w, offset, *args)


def _cpu_count():
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def make_backend(X, sample_weight=None, *, n_threads=None):
    """The backend for an input: Dask arrays get :class:`DaskBackend`, anything else local."""
    if isinstance(X, da.Array):
        return DaskBackend(X, sample_weight)
    return LocalBackend(X, sample_weight, n_threads=n_threads)
