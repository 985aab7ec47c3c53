"""Key paths: how a place in a config is named in error messages.

A path is a tuple of mapping keys (``str``) and list indices (``int``);
``("input", "features", 2)`` is written ``input.features[2]``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["KeyPath", "format_path", "format_position"]

KeyPath = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Write a key path the way a user reads it.

    Parameters
    ----------
    path : sequence of str or int
        Mapping keys and list indices, outermost first.

    Returns
    -------
    str
        ``"model.k_range[1]"``; ``"(top level)"`` for the empty path.

    Examples
    --------
    >>> format_path(("input", "features", 2))
    'input.features[2]'
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def format_position(position: tuple[int, int] | None) -> str:
    """Write a 1-based ``(line, column)`` as ``" (line 3, column 5)"``; ``""`` for ``None``."""
    if position is None:
        return ""
    line, column = position
    return f" (line {line}, column {column})"
