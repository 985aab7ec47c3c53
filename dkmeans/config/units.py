"""Sizes and durations written as text in a job config.

Data engineers write ``memory_limit: 4GiB``, ``chunk_bytes: 128MiB`` or
``timeout: 30s``; these helpers turn such text into numbers. The units follow
Dask's conventions (``dask.utils.parse_bytes`` / ``parse_timedelta``) so a value
means the same thing here as in a Dask config file: ``MB`` is 10**6 bytes,
``MiB`` is 2**20 bytes, ``K``/``M``/``G`` alone are decimal.

Examples
--------
>>> parse_size("128MiB")
134217728
>>> parse_size("1.5 GB")
1500000000
>>> parse_duration("2m")
120.0
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration", "parse_size"]

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "tib": 2**40,
    "p": 10**15,
    "pb": 10**15,
    "pib": 2**50,
}

_DURATION_UNITS = {
    "": 1.0,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "days": 86400.0,
}

_NUMBER_UNIT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*")


def _split(text: str) -> tuple[float, str] | None:
    match = _NUMBER_UNIT.fullmatch(text)
    if match is None:
        return None
    return float(match.group(1)), match.group(2).lower()


def parse_size(value: object) -> int:
    """Parse a size in bytes.

    Parameters
    ----------
    value : int or str
        A non-negative number of bytes, or text such as ``"128MiB"``, ``"4 GiB"``,
        ``"500MB"`` or ``"1024"``.

    Returns
    -------
    int
        The size in bytes (rounded down to a whole byte).

    Raises
    ------
    ValueError
        If ``value`` is not a size; the message says what was expected and what was got.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected a size of zero or more bytes; got {value!r}")
        return value
    parsed = _split(value) if isinstance(value, str) else None
    if parsed is None or parsed[1] not in _SIZE_UNITS:
        raise ValueError(
            "expected a size such as '128MiB', '4GiB', '500MB' or a number of bytes; "
            f"got {value!r}"
        )
    number, unit = parsed
    return int(number * _SIZE_UNITS[unit])


def parse_duration(value: object) -> float:
    """Parse a duration in seconds.

    Parameters
    ----------
    value : int, float or str
        Seconds as a number, or text such as ``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"``.

    Returns
    -------
    float
        The duration in seconds.

    Raises
    ------
    ValueError
        If ``value`` is not a finite, non-negative duration.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"expected a duration of zero seconds or more; got {value!r}")
        return seconds
    parsed = _split(value) if isinstance(value, str) else None
    if parsed is None or parsed[1] not in _DURATION_UNITS:
        raise ValueError(
            "expected a duration such as '30s', '500ms', '2m' or a number of seconds; "
            f"got {value!r}"
        )
    number, unit = parsed
    return number * _DURATION_UNITS[unit]
