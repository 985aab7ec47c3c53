"""Where the chunks of an in-memory Dask array live, grouped into one task per worker thread.

On a distributed cluster every task costs a scheduler round trip, and a worker thread runs
its tasks one after another. A pass over persisted data therefore runs fastest as one task
per worker thread, each over the chunks its worker already holds: no data moves and the
scheduler sees a handful of tasks instead of one per chunk. Where the workers hold the chunks
very unevenly, a few are copied once to the idlest workers, so that no thread carries much
more than its share of the rows in every pass.

Grouping only decides where work runs, never how results add up: a grouped task returns one
result per chunk and the caller combines them in the fixed per-chunk tree, so the numbers
are the same whatever the placement.
"""

from __future__ import annotations

from typing import NamedTuple

import dask
import numpy as np
from dask.base import tokenize
from dask.core import flatten
from distributed import Future, wait

#: Up to this many bytes of arguments times tasks, a grouped pass copies the arguments into
#: every task rather than sending them once as a key of their own.
INLINE_ARGS_BYTES = 4 << 20

#: Persisted chunks are spread out once when the busiest worker thread would read more than
#: this many times its share of the rows (a pass lasts as long as its busiest thread). With 4
#: chunks on 2 single-thread workers the scheduler placed 3 on one: S of ``make bench``, about
#: 15% longer per iteration than 2 and 2.
IMBALANCE_TOLERANCE = 1.2


def in_memory_futures(X):
    """The futures holding every chunk of ``X``, or None when some chunk is not held.

    Parameters
    ----------
    X : dask.array.Array

    Returns
    -------
    list of distributed.Future or None
        In the order of ``X.__dask_keys__()`` flattened.
    """
    values = _chunk_values(X)
    return values if all(isinstance(v, Future) for v in values) else None


def is_in_memory(X):
    """Whether every chunk of a Dask array is already held (persisted futures or arrays)."""
    return all(isinstance(v, (Future, np.ndarray)) for v in _chunk_values(X))


def _chunk_values(X):
    """What ``X``'s graph holds under each chunk key: a Future or array once persisted."""
    graph = X.__dask_graph__()
    return [graph.get(key) for key in flatten(X.__dask_keys__())]


class Placement(NamedTuple):
    """Where a grouped pass reads each chunk, and which worker thread runs it.

    Attributes
    ----------
    groups : list of list of int
        Row-chunk indices, one group per worker thread; every chunk exactly once, each group
        in increasing order, groups sorted by their first chunk.
    x_refs, w_refs : list
        For every chunk, what its task reads: the array's own key, or the Future of a copy
        spread to another worker (``w_refs`` entries are None without sample weights).
    spread : list of distributed.Future
        The spread copies; holding them keeps them on their workers.
    workers : list of str
        The worker reading each group's chunks.
    """

    groups: list
    x_refs: list
    w_refs: list
    spread: list
    workers: list


def place_chunks(client, X, sample_weight=None):
    """Group the chunks of a persisted array by the worker thread that will read them.

    Chunks stay where they are held, unless the workers hold them so unevenly that some
    thread would carry more than ``IMBALANCE_TOLERANCE`` times its share of the rows: then a
    few chunks are copied once to the workers with the fewest rows per thread (see
    :func:`spread_plan`), since every later pass runs as long as its busiest thread.

    Parameters
    ----------
    client : distributed.Client
    X : dask.array.Array of shape (n, d)
        Row-chunked only (one column chunk).
    sample_weight : dask.array.Array of shape (n,), optional
        Chunked like ``X``'s rows; spread along with ``X``.

    Returns
    -------
    Placement or None
        None when some chunk is not held in worker memory (a lazy array, or a chunk lost
        with its worker): then there is nothing to group by.
    """
    futures = in_memory_futures(X)
    if futures is None:
        return None
    w_futures = None if sample_weight is None else in_memory_futures(sample_weight)
    wait(futures + (w_futures or []))  # a just-persisted array may still be computing
    who_has = client.who_has(futures)
    holders = []
    for future in futures:
        held_by = who_has.get(future.key, ())
        if not held_by:
            return None
        holders.append(held_by[0])
    threads = {address: int(n) for address, n in client.nthreads().items()}
    chunk_rows = [int(r) for r in X.chunks[0]]
    # lazy weights would be computed where each task runs: spread nothing then
    can_spread = sample_weight is None or w_futures is not None
    owners = spread_plan(chunk_rows, holders, threads) if can_spread else list(holders)
    x_refs = [(X.name, i, 0) for i in range(len(futures))]
    w_refs = [None if sample_weight is None else (sample_weight.name, i)
              for i in range(len(futures))]
    spread = []
    for i, (holder, owner) in enumerate(zip(holders, owners)):
        if owner == holder:
            continue
        x_refs[i] = _copy_to(client, futures[i], owner)
        spread.append(x_refs[i])
        if w_futures is not None:
            w_refs[i] = _copy_to(client, w_futures[i], owner)
            spread.append(w_refs[i])
    wait(spread)
    by_worker = {}
    for index, owner in enumerate(owners):
        by_worker.setdefault(owner, []).append(index)
    groups = []
    for address, chunks in by_worker.items():
        n_groups = max(1, min(threads.get(address, 1), len(chunks)))
        groups.extend(split_by_rows(chunks, chunk_rows, n_groups))
    groups.sort(key=lambda group: group[0])
    return Placement(groups, x_refs, w_refs, spread, [owners[group[0]] for group in groups])


def spread_plan(chunk_rows, holders, threads):
    """The worker each chunk is read on: its holder, bar a few moves that even out the rows
    per thread when the busiest thread carries more than ``IMBALANCE_TOLERANCE`` times its
    share.

    Moves go from the busiest worker (rows per thread) to the idlest, one chunk at a time,
    each the one that lowers the larger of the two loads most, while that helps.

    Parameters
    ----------
    chunk_rows : list of int
    holders : list of str
        The worker holding each chunk.
    threads : dict of str to int
        Threads of every worker, including those holding no chunk.

    Returns
    -------
    list of str
        One worker per chunk.
    """
    owners = list(holders)
    threads = {address: max(1, n) for address, n in threads.items()}
    for address in holders:
        threads.setdefault(address, 1)
    rows = {address: 0 for address in threads}
    for size, owner in zip(chunk_rows, owners):
        rows[owner] += size
    share = sum(chunk_rows) / sum(threads.values())

    def load(address, extra=0):
        return (rows[address] + extra) / threads[address]

    busiest = max(rows, key=load)
    if load(busiest) <= IMBALANCE_TOLERANCE * share:
        return owners
    for _ in range(len(owners)):
        busiest, idlest = max(rows, key=load), min(rows, key=load)
        movable = [i for i, owner in enumerate(owners) if owner == busiest]
        if len(movable) < 2:
            break
        best = min(movable, key=lambda i: max(load(busiest, -chunk_rows[i]),
                                              load(idlest, chunk_rows[i])))
        after = max(load(busiest, -chunk_rows[best]), load(idlest, chunk_rows[best]))
        if after >= load(busiest):
            break
        owners[best] = idlest
        rows[busiest] -= chunk_rows[best]
        rows[idlest] += chunk_rows[best]
    return owners


def _copy_to(client, future, address):
    """A copy of a held chunk kept on ``address`` (one transfer, then local every pass).

    The copy may run elsewhere if ``address`` has left meanwhile: never wait on a worker
    that is gone.
    """
    return client.submit(_aligned, future, workers=[address], allow_other_workers=True,
                         key=f"dkmeans-spread-{tokenize(future.key, address)}")


#: Bytes of a cache line: a realigned spread copy starts on one.
CACHE_LINE = 64

#: Alignment of every array NumPy allocates (malloc's); a chunk at such an address is read
#: as fast as any, so it is kept as it is.
ALLOCATED_ALIGNMENT = 16


def _aligned(value):
    """A transferred chunk, copied once to a cache-line boundary if it arrived off the
    alignment NumPy's own arrays have.

    A received array is a view of the message buffer at whatever byte offset its frame had
    (seen: float32 rows at an odd address), and every pass over it then either runs slower
    or copies it block by block (:func:`~dkmeans.kernels.partials.aligned_blocks`); on S of
    ``make bench`` such a chunk's Lloyd pass took 10.4-13.7 ms instead of 8.6-9.4.
    """
    if not isinstance(value, np.ndarray) or value.ctypes.data % ALLOCATED_ALIGNMENT == 0:
        return value
    raw = np.empty(value.nbytes + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    copy = raw[start:start + value.nbytes].view(value.dtype).reshape(value.shape)
    np.copyto(copy, value)
    return copy


def split_by_rows(chunks, chunk_rows, n_groups):
    """Split ordered chunk indices into ``n_groups`` consecutive runs of about equal rows.

    Parameters
    ----------
    chunks : list of int
        Chunk indices, increasing.
    chunk_rows : sequence of int
        Rows of every chunk of the array.
    n_groups : int
        At most ``len(chunks)``.

    Returns
    -------
    list of list of int
        ``n_groups`` non-empty runs.
    """
    rows = np.array([chunk_rows[i] for i in chunks], dtype=np.float64)
    ends = np.cumsum(rows)
    total = ends[-1] if len(ends) else 0.0
    groups = []
    start = 0
    for g in range(1, n_groups):
        # cut where the running total first reaches g/n_groups of the rows, leaving at least
        # one chunk for each group still to come
        cut = int(np.searchsorted(ends, total * g / n_groups, side="left")) + 1
        cut = min(max(cut, start + 1), len(chunks) - (n_groups - g))
        groups.append(list(chunks[start:cut]))
        start = cut
    groups.append(list(chunks[start:]))
    return groups


def grouped_layer(placement, fn, args, row_offsets, names, states=None):
    """Tasks running ``fn(x, w, row_offset, *args)`` over each group's chunks, in order.

    Parameters
    ----------
    placement : Placement
        From :func:`place_chunks`.
    fn : callable
    args : tuple
    row_offsets : list of int
        Global index of every chunk's first row.
    names : dict
        From :func:`dkmeans.dist.graph.layer_names`.
    states : list, optional
        Per-chunk state (futures held on the workers, or None): then each call is
        ``fn(x, w, row_offset, state, *args)``.

    Returns
    -------
    dsk : dict
    group_keys : list of keys
        One per group; each result is a list with one entry per chunk of the group.
    where : list of (int, int)
        For every chunk, its group and its position in that group's result.
    """
    if len(placement.groups) * sum(getattr(a, "nbytes", 0) for a in args) <= INLINE_ARGS_BYTES:
        # few tasks: each carries the arguments, saving the hop of a separate key
        dsk, args_ref = {}, _Inline(tuple(args))
    else:
        dsk, args_ref = {names["args"]: tuple(args)}, names["args"]
    where = [None] * len(row_offsets)
    group_keys = []
    for g, chunks in enumerate(placement.groups):
        key = (names["partials"], g)
        dsk[key] = (_apply_group, fn, [placement.x_refs[i] for i in chunks],
                    [placement.w_refs[i] for i in chunks],
                    [row_offsets[i] for i in chunks], args_ref,
                    None if states is None else [states[i] for i in chunks])
        group_keys.append(key)
        for pos, i in enumerate(chunks):
            where[i] = (g, pos)
    return dsk, group_keys, where


def per_chunk_layer(dsk, group_keys, where, name, field=None):
    """Add one small task per chunk picking its result out of its group's; returns their keys,
    in chunk order (the leaves of the per-chunk combine tree).

    ``field``, if given, picks that item of each chunk's result (a ``(state, part)`` pair).
    """
    keys = []
    for i, (g, pos) in enumerate(where):
        dsk[(name, i)] = ((_item, group_keys[g], pos) if field is None
                          else (_field, group_keys[g], pos, field))
        keys.append((name, i))
    return keys


def pinned(placement, dsk, group_keys):
    """Context for submitting a grouped layer: every task that reads a group's result (the
    group's task, and tasks picking a chunk's state or part out of it) runs on the group's
    worker, so per-chunk state stays where the chunk is read. Left to itself the scheduler
    may move such a pick to an idle worker, and the state with it; the restriction is loose,
    so work goes elsewhere if that worker leaves.
    """
    where = {key: [placement.workers[g]] for g, key in enumerate(group_keys)}
    for key, task in dsk.items():
        if isinstance(task, tuple) and task and task[0] in (_item, _field):
            where[key] = where[task[1]]
    return dask.annotate(workers=_WorkersOf(where, sorted(set(placement.workers))),
                         allow_other_workers=True)


class _WorkersOf:
    """Per-key worker annotation: the listed workers for known keys, any other for the rest."""

    def __init__(self, where, anywhere):
        self.where = where
        self.anywhere = anywhere

    def __call__(self, key):
        return self.where.get(key, self.anywhere)


class _Inline:
    """Arguments carried inside a task, opaque to Dask (never taken for keys or tasks)."""

    __slots__ = ("args",)

    def __init__(self, args):
        self.args = args

    def __reduce__(self):
        return _Inline, (self.args,)


def _apply_group(fn, xs, ws, offsets, args, states=None):
    """``fn`` on each chunk of one group, in order: one result per chunk."""
    if isinstance(args, _Inline):
        args = args.args
    if states is None:
        return [fn(x, w, offset, *args) for x, w, offset in zip(xs, ws, offsets)]
    return [fn(x, w, offset, state, *args)
            for x, w, offset, state in zip(xs, ws, offsets, states)]


def _item(results, pos):
    return results[pos]


def _field(results, pos, field):
    return results[pos][field]
