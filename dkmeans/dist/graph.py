"""Hand-built task graphs: one task per chunk, then a tree reduction with bounded fan-in.

Task names are a user interface: the dashboard groups tasks by the key's prefix, so every
layer is named ``dkmeans-<phase>-partials`` / ``dkmeans-<phase>-combine`` and a person watching
sees which phase runs.
"""

from __future__ import annotations

import itertools
import uuid

from dask.highlevelgraph import HighLevelGraph

_counter = itertools.count()
# keys must differ between processes too: two jobs may share one scheduler
_process_token = uuid.uuid4().hex[:8]


def layer_names(phase):
    """Readable key prefixes unique to one call: ``dkmeans-<phase>-partials-<token>`` etc."""
    token = f"{_process_token}{next(_counter):06d}"
    return {part: f"dkmeans-{phase}-{part}-{token}" for part in ("args", "partials", "combine")}


def tree_reduce_layer(keys, combine, *, name, split_every):
    """Tasks that combine ``keys`` in a tree of fan-in at most ``split_every``.

    The grouping is a pure function of the number of keys, so the reduction order (and hence
    the floating-point result) is the same whatever the scheduling.

    Parameters
    ----------
    keys : list of keys
        In chunk order.
    combine : callable
        ``combine(list_of_partials) -> partial``, associative.
    name : str
        Key prefix of the combine layer.
    split_every : int
        Maximum fan-in, at least 2.

    Returns
    -------
    dsk : dict
    final_key : key
    """
    dsk = {}
    level = 0
    current = list(keys)
    if len(current) == 1:
        final = (name, 0, 0)
        dsk[final] = (combine, current)
        return dsk, final
    while len(current) > 1:
        nxt = []
        for j in range(0, len(current), split_every):
            key = (name, level, j // split_every)
            dsk[key] = (combine, current[j: j + split_every])
            nxt.append(key)
        current = nxt
        level += 1
    return dsk, current[0]


def graph_from_layer(name, dsk, dependencies):
    """Wrap a raw layer into a HighLevelGraph on top of the given collections."""
    return HighLevelGraph.from_collections(name, dsk, dependencies=list(dependencies))


def sum_parts(parts):
    """Combine for partial results that add up (floats or same-shape arrays), in order."""
    return sum(parts[1:], parts[0])
