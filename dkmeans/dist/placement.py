"""Where the chunks of an in-memory Dask array live, grouped into one task per worker thread.

On a distributed cluster every task costs a scheduler round trip, and a worker thread runs
its tasks one after another. A pass over persisted data therefore runs fastest as one task
per worker thread, each over the chunks its worker already holds: no data moves and the
scheduler sees a handful of tasks instead of one per chunk.

Grouping only decides where work runs, never how results add up: a grouped task returns one
result per chunk and the caller combines them in the fixed per-chunk tree, so the numbers
are the same whatever the placement.
"""

from __future__ import annotations

import numpy as np
from dask.core import flatten
from distributed import Future, wait

#: Up to this many bytes of arguments times tasks, a grouped pass copies the arguments into
#: every task rather than sending them once as a key of their own.
INLINE_ARGS_BYTES = 4 << 20


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


def worker_thread_groups(client, X):
    """Row-chunk indices of ``X`` grouped by the worker holding them, one group per thread.

    Parameters
    ----------
    client : distributed.Client
    X : dask.array.Array of shape (n, d)
        Row-chunked only (one column chunk).

    Returns
    -------
    list of list of int or None
        Every chunk index exactly once, each group's in increasing order, groups sorted by
        their first chunk. None when some chunk is not held in worker memory (a lazy array,
        or a chunk lost with its worker): then there is nothing to group by.
    """
    futures = in_memory_futures(X)
    if futures is None:
        return None
    wait(futures)  # a just-persisted array may still be computing; every pass needs it anyway
    keys = list(flatten(X.__dask_keys__()))
    who_has = client.who_has(futures)
    threads = client.nthreads()
    by_worker = {}
    for index, key in enumerate(keys):
        holders = who_has.get(key, ())
        if not holders:
            return None
        by_worker.setdefault(holders[0], []).append(index)
    groups = []
    for address, chunks in by_worker.items():
        n_groups = max(1, min(int(threads.get(address, 1)), len(chunks)))
        groups.extend(split_by_rows(chunks, X.chunks[0], n_groups))
    return sorted(groups, key=lambda group: group[0])


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


def grouped_layer(groups, fn, args, x_name, w_name, row_offsets, names):
    """Tasks running ``fn(x, w, row_offset, *args)`` over each group's chunks, in order.

    Parameters
    ----------
    groups : list of list of int
        From :func:`worker_thread_groups`.
    fn : callable
    args : tuple
    x_name, w_name : str, str or None
        Key names of the data and of the sample weights (chunked alike), if any.
    row_offsets : list of int
        Global index of every chunk's first row.
    names : dict
        From :func:`dkmeans.dist.graph.layer_names`.

    Returns
    -------
    dsk : dict
    group_keys : list of keys
        One per group; each result is a list with one entry per chunk of the group.
    where : list of (int, int)
        For every chunk, its group and its position in that group's result.
    """
    if len(groups) * sum(getattr(a, "nbytes", 0) for a in args) <= INLINE_ARGS_BYTES:
        # few tasks: each carries the arguments, saving the hop of a separate key
        dsk, args_ref = {}, _Inline(tuple(args))
    else:
        dsk, args_ref = {names["args"]: tuple(args)}, names["args"]
    where = [None] * len(row_offsets)
    group_keys = []
    for g, chunks in enumerate(groups):
        key = (names["partials"], g)
        dsk[key] = (_apply_group, fn, [(x_name, i, 0) for i in chunks],
                    [None if w_name is None else (w_name, i) for i in chunks],
                    [row_offsets[i] for i in chunks], args_ref)
        group_keys.append(key)
        for pos, i in enumerate(chunks):
            where[i] = (g, pos)
    return dsk, group_keys, where


def per_chunk_layer(dsk, group_keys, where, name):
    """Add one small task per chunk picking its result out of its group's; returns their keys,
    in chunk order (the leaves of the per-chunk combine tree)."""
    keys = []
    for i, (g, pos) in enumerate(where):
        dsk[(name, i)] = (_item, group_keys[g], pos)
        keys.append((name, i))
    return keys


class _Inline:
    """Arguments carried inside a task, opaque to Dask (never taken for keys or tasks)."""

    __slots__ = ("args",)

    def __init__(self, args):
        self.args = args

    def __reduce__(self):
        return _Inline, (self.args,)


def _apply_group(fn, xs, ws, offsets, args):
    """``fn`` on each chunk of one group, in order: one result per chunk."""
    if isinstance(args, _Inline):
        args = args.args
    return [fn(x, w, offset, *args) for x, w, offset in zip(xs, ws, offsets)]


def _item(results, pos):
    return results[pos]
