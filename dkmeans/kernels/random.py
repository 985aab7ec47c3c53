"""Random numbers keyed by the global row index, so draws do not depend on chunking.

A row's draw is a pure function of ``(seed, stream, row_index)``: the splitmix64 finaliser
(Steele et al. 2014) applied to a combination of the three. Any chunk can compute the draws of
its rows alone, and two chunkings of the same data make the same draws.
"""

from __future__ import annotations

import numpy as np

from dkmeans.kernels._compiled import keyed_uniform_into

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z):
    """splitmix64's finaliser on a uint64 array."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def stream_key(seed, stream):
    """A 64-bit key for one named use (``stream``) of a seed.

    Parameters
    ----------
    seed : int
        Non-negative seed (``random_state`` resolved to an integer).
    stream : int
        Which draw this is (e.g. the k-means|| round).

    Returns
    -------
    numpy.uint64
    """
    with np.errstate(over="ignore"):
        base = _mix(np.array([seed], dtype=np.uint64) * _GOLDEN + np.uint64(stream))
        return _mix(base ^ (np.uint64(stream) * _M2))[0]


def keyed_uniform(key, row_start, n_rows):
    """Uniform draws in [0, 1) for rows ``row_start .. row_start + n_rows - 1``.

    Parameters
    ----------
    key : numpy.uint64
        From :func:`stream_key`.
    row_start : int
        Global index of the first row.
    n_rows : int

    Returns
    -------
    ndarray of shape (n_rows,), float64
    """
    out = np.empty(n_rows, dtype=np.float64)
    # the compiled loop is _mix() on (row * golden + key), keeping the top 53 bits
    keyed_uniform_into(np.uint64(key), np.uint64(row_start), out)
    return out


def keyed_uniform_at(key, row_start, local_rows):
    """The draws of :func:`keyed_uniform` for some rows only.

    Parameters
    ----------
    key : numpy.uint64
    row_start : int
        Global index of the chunk's first row.
    local_rows : ndarray of shape (m,), int64
        Rows within the chunk.

    Returns
    -------
    ndarray of shape (m,), float64
    """
    rows = np.asarray(local_rows, dtype=np.uint64) + np.uint64(row_start)
    with np.errstate(over="ignore"):
        bits = _mix(rows * _GOLDEN + np.uint64(key))
    # the top 53 bits make an exactly representable double in [0, 1)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def keyed_uniform_reference(key, row_start, n_rows):
    """The same draws as :func:`keyed_uniform` in plain NumPy (the compiled loop's spec)."""
    return keyed_uniform_at(key, row_start, np.arange(n_rows))


def keyed_index(key, n_rows):
    """One row index in ``[0, n_rows)`` drawn from a key: the same whatever the chunking."""
    return min(int(keyed_uniform(key, 0, 1)[0] * n_rows), n_rows - 1)


def resolve_seed(random_state):
    """Turn a ``random_state`` (None, int, Generator or RandomState) into a 63-bit integer seed.

    ``None`` draws fresh entropy, so unseeded fits differ between runs as in scikit-learn.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state) & 0x7FFFFFFFFFFFFFFF
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1)) * 2**31 + int(random_state.randint(0, 2**31 - 1))
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {type(random_state).__name__} instead."
    )
