"""Passes sent straight to the workers that hold the chunks, past the scheduler.

A task pass costs a trip through the scheduler: distributed batches its messages (the client
every 10 ms, the scheduler every 5 ms, the workers every 2 ms), and on the 2-core machine of
``make bench`` an empty one-task round trip takes about 11 ms. A Lloyd pass over 1M x 32 rows
takes about 15-20 ms per worker, so the trip made every iteration half as long again.

A Dask actor answers the client's calls directly (an empty call to two actors took about
2 ms there). :class:`DirectPasses` keeps one actor per worker, :class:`ChunkHost`, holding
the chunks that worker already has (the same arrays, nothing copied) and running a pass over
them on request, one thread per group of :class:`~dkmeans.dist.placement.Placement`.
A worker with one group runs a stateless pass (a Lloyd iteration) on its event loop, chunk
after chunk, handing the loop back between chunks, rather than on the worker's actor thread:
the switch to that thread and back cost 3-5 ms of a 23-28 ms Lloyd iteration on S on a busy
2-core machine. A stateless pass comes here only after the same pass as tasks took under a
second, so the loop (and the worker's heartbeats) wait well under a second; a stateful pass
(a k-means|| round, whose cost grows with the candidates it measures) runs there only when
its caller's estimate of a chunk's work is small (:data:`LOOP_MULTIPLY_ADDS`), else on a
thread of the actor's own.

Each call returns one result per chunk and the caller combines them in the fixed per-chunk
tree, exactly as it does for a grouped task pass, so the numbers do not depend on the route.
When a worker holding an actor leaves, a pass returns None (it never waits on a worker that
is gone) and the caller goes back to tasks, which recompute lost chunks from their lineage.

Stateful passes (k-means|| rounds) keep their per-chunk state inside the actors, under a
token (:class:`DirectState`). Such state has no lineage: when its worker leaves, the pass
reading it raises :class:`StateLost` and the caller starts its chain again as tasks.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from distributed import Future, wait

from dkmeans.dist.placement import _apply_group, in_memory_futures

logger = logging.getLogger(__name__)

#: While waiting for a direct pass, the actors' workers are checked this often (seconds).
HEALTH_CHECK_SECONDS = 0.5

#: Longest wait for the actors to start on their workers (seconds); past it, tasks run.
START_TIMEOUT_SECONDS = 30.0

#: A stateful pass runs on the workers' event loops when a chunk's estimated work is at
#: most this many multiply-adds: about 0.1 s at the 20 GMAC/s measured on one core here (a
#: k-means|| round over 250k rows of S, 33 candidates: 264M in 14 ms), and under the seconds
#: after which distributed reports a blocked loop even at a tenth of that rate.
LOOP_MULTIPLY_ADDS = 2e9


class ChunkHost:
    """A worker's chunks, and passes over them run on request (a Dask actor).

    Parameters
    ----------
    groups : list of list of int
        Positions (into ``xs``) of each group's chunks; one group per worker thread.
    offsets : list of int
        Global index of the first row of every chunk in ``xs``.
    xs : list of ndarray of shape (n_i, d)
        The chunks (the worker's own arrays: the actor adds no copy).
    ws : list of ndarray of shape (n_i,) or None
        Their sample weights.
    """

    def __init__(self, groups, offsets, xs, ws):
        self.groups = groups
        self.offsets = offsets
        self.xs = xs
        self.ws = ws
        self.states = {}  # token -> one state per chunk held
        # several groups run side by side, each on a thread of this pool
        self._pool = ThreadPoolExecutor(len(groups), thread_name_prefix="dkmeans-direct")

    async def run(self, fn, args):
        """``fn(x, w, row_offset, *args)`` on every chunk held.

        Returns
        -------
        list of list
            One list per group, one result per chunk of the group, in order.
        """
        def run_chunk(i):
            return _apply_group(fn, [self.xs[i]], [self.ws[i]], [self.offsets[i]], args)[0]

        return await self._map_groups(run_chunk, on_loop=True)

    async def run_with_state(self, fn, args, source, target, on_loop=False):
        """``fn(x, w, row_offset, state, *args)`` -> ``(state, part)`` on every chunk held.

        Each chunk's state is read from token ``source`` (None: no state yet) and the new one
        kept under token ``target``; only the parts are returned, as :meth:`run` returns its
        results. ``on_loop``: the chunks are known to be short (see :meth:`_map_groups`).
        """
        before = [None] * len(self.xs) if source is None else self.states[source]
        after = [None] * len(self.xs)

        def run_chunk(i):
            after[i], part = fn(self.xs[i], self.ws[i], self.offsets[i], before[i], *args)
            return part

        parts = await self._map_groups(run_chunk, on_loop=on_loop)
        self.states[target] = after
        return parts

    async def release(self, token):
        """Let go of the states kept under ``token``."""
        self.states.pop(token, None)

    async def _map_groups(self, run_chunk, *, on_loop):
        """``run_chunk`` on every chunk: one list of results per group, in order.

        With ``on_loop`` (chunks known to be short) a single group runs here, on the worker's
        event loop, which gets a turn after each chunk; otherwise the groups run side by side
        on the actor's own threads (the kernels release the GIL).
        """
        if on_loop and len(self.groups) == 1:
            results = []
            for i in self.groups[0]:
                results.append(run_chunk(i))
                await asyncio.sleep(0)
            return [results]

        def run_group(group):
            return [run_chunk(i) for i in group]

        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(
            *(loop.run_in_executor(self._pool, run_group, group) for group in self.groups)))

    def __del__(self):
        self._pool.shutdown(wait=False)


class DirectPasses:
    """Passes over a persisted, placed array through one :class:`ChunkHost` per worker.

    Parameters
    ----------
    client : distributed.Client
    placement : Placement
        From :func:`~dkmeans.dist.placement.place_chunks`.
    X : dask.array.Array of shape (n, d)
        Persisted; its chunk futures are handed to the actors.
    sample_weight : dask.array.Array of shape (n,) or None
        Persisted like ``X``.
    row_offsets : list of int
        Global index of every chunk's first row.

    Attributes
    ----------
    hosts : list of (Future, Actor, list of int)
        Per worker: the actor's future, the actor, and the chunk index of every position
        of its results (flattened over its groups).
    """

    def __init__(self, client, placement, X, sample_weight, row_offsets):
        self.n_chunks = len(row_offsets)
        x_held = in_memory_futures(X)
        w_held = None if sample_weight is None else in_memory_futures(sample_weight)
        if x_held is None or (sample_weight is not None and w_held is None):
            raise DirectUnavailable("some chunk is not held in worker memory")
        gone = set(placement.workers) - set(client.nthreads())
        if gone:
            raise DirectUnavailable(f"worker(s) {sorted(gone)} left since the chunks were placed")
        by_worker = {}
        for g, address in enumerate(placement.workers):
            by_worker.setdefault(address, []).append(placement.groups[g])
        futures, orders = [], []
        for address, groups in by_worker.items():
            order = [i for group in groups for i in group]
            positions, start = [], 0
            for group in groups:
                positions.append(list(range(start, start + len(group))))
                start += len(group)
            xs = [_held(placement.x_refs[i], x_held[i]) for i in order]
            ws = [None if w_held is None else _held(placement.w_refs[i], w_held[i])
                  for i in order]
            futures.append(client.submit(
                ChunkHost, positions, [row_offsets[i] for i in order], xs, ws, actor=True,
                workers=[address], allow_other_workers=False,
                key=f"dkmeans-chunk-host-{uuid.uuid4().hex}"))
            orders.append(order)
        self.hosts = []
        try:
            wait(futures, timeout=START_TIMEOUT_SECONDS)
        except TimeoutError:
            pass  # told apart below
        if any(f.status != "finished" for f in futures):
            for future in futures:
                future.cancel()
            raise DirectUnavailable("the actors did not start on every worker")
        self.hosts = [(future, future.result(), order) for future, order in zip(futures, orders)]

    def alive(self):
        """Whether every actor's worker still holds it (as far as the scheduler has told)."""
        return all(future.status == "finished" for future, _, _ in self.hosts)

    def run(self, fn, args):
        """``fn(x, w, row_offset, *args)`` on every chunk, through the actors.

        Returns
        -------
        list or None
            One result per chunk, in chunk order; None when a worker holding an actor left
            (or its connection broke), and the caller is to run the pass as tasks. An error
            raised by ``fn`` comes through: as raised, or from that task pass.
        """
        return self._call("run", fn, args)

    def run_with_state(self, fn, args, state=None, *, chunk_work=None):
        """``fn(x, w, row_offset, state, *args)`` -> ``(state, part)`` on every chunk, the
        states staying in the actors.

        Parameters
        ----------
        state : DirectState or None
            The states the pass reads (None: none yet).
        chunk_work : float, optional
            Estimated multiply-adds of ``fn`` on the largest chunk; at most
            :data:`LOOP_MULTIPLY_ADDS`, a one-thread worker runs it on its event loop.

        Returns
        -------
        (DirectState, list) or None
            The new states and one part per chunk, in chunk order; None as :meth:`run`.
        """
        target = DirectState(self, uuid.uuid4().hex)
        on_loop = chunk_work is not None and chunk_work <= LOOP_MULTIPLY_ADDS
        parts = self._call("run_with_state", fn, args,
                           None if state is None else state.token, target.token, on_loop)
        return None if parts is None else (target, parts)

    def release(self, token):
        """Let go of the states kept under ``token`` (not waited for: each actor drops them
        when the message arrives; no later pass reads them)."""
        if self.alive():
            for _, actor, _ in self.hosts:
                actor.release(token)

    def _call(self, method, *args):
        if not self.alive():
            return None
        try:
            calls = [getattr(actor, method)(*args) for _, actor, _ in self.hosts]
            parts = [None] * self.n_chunks
            for call, (_, _, order) in zip(calls, self.hosts):
                results = self._wait(call)
                if results is None:
                    return None
                for i, result in zip(order, (r for group in results for r in group)):
                    parts[i] = result
        except (OSError, RuntimeError) as error:
            # OSError: the worker's connection broke; RuntimeError: the client was told the
            # actor is lost. Should ``fn`` itself have raised one, the task pass that runs
            # instead raises it again, where it belongs.
            logger.info("direct pass abandoned (%s: %s); passes run as tasks",
                        type(error).__name__, error)
            return None
        return parts

    def _wait(self, call):
        while True:
            try:
                return call.result(timeout=HEALTH_CHECK_SECONDS)
            except TimeoutError:
                if not self.alive():
                    return None

    def close(self):
        """Let the actors go (and with them their references to the chunks).

        Cancelled rather than released: each actor proxy holds a future of its own that a
        reference cycle inside distributed's actor calls keeps alive until Python's cyclic
        garbage collector runs, and the actor would stay on its worker until then. The keys
        are this object's alone, so cancelling them takes nothing from anyone else.
        """
        for future, _, _ in self.hosts:
            future.cancel()
        self.hosts = []


class DirectUnavailable(RuntimeError):
    """The actors could not be started; passes run as tasks."""


class StateLost(RuntimeError):
    """Per-chunk state kept in the actors is gone (a worker left); the chain of stateful
    passes that built it must start again."""


class DirectState:
    """Handle on per-chunk states kept in the actors of a :class:`DirectPasses`.

    Parameters
    ----------
    passes : DirectPasses
    token : str
    """

    def __init__(self, passes, token):
        self.passes = passes
        self.token = token

    def release(self):
        self.passes.release(self.token)


def _held(ref, own):
    """The future a chunk is read from: a spread copy, or the array's own chunk."""
    return ref if isinstance(ref, Future) else own
