"""Building blocks shared by every section of the job schema.

- :class:`Section`: the base model: unknown keys rejected (``extra="forbid"``), frozen,
  no NaN or infinity in floats.
- :data:`Int` / :data:`Float`: numbers that refuse YAML booleans (pydantic would
  otherwise read ``n_clusters: yes`` as 1) but accept numeric text, as produced by
  ``${VAR}`` interpolation (``"8"`` -> 8).
- :class:`RuleError`: raised by validators that tie several keys together, so the error
  message can name each culprit key by its full path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .secrets import MASK, is_secret_key, mask_secrets

__all__ = ["Float", "Int", "JsonDict", "NonEmptyStr", "RuleError", "Section", "changed"]


class RuleError(ValueError):
    """A rule relating several keys of one section was broken.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    *keys : str
        The culprit keys, relative to the section the validator belongs to
        (``"k_range"``), or dotted for a top-level rule (``"evaluate.label_column"``).
    """

    def __init__(self, message: str, *keys: str):
        super().__init__(message)
        self.message = message
        self.keys = keys


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"expected a number; got the boolean {str(value).lower()}")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


def _check_json_like(value: object, where: str = "") -> None:
    """Refuse what a pass-through bag could not hand on as plain JSON."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where or 'value'}: expected a finite number; got {value!r}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_like(item, f"{where}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"keys must be strings; got {key!r} (quote it in YAML)")
            _check_json_like(item, f"{where}.{key}" if where else key)
        return
    kind = type(value).__name__
    raise ValueError(f"{where or 'value'}: expected plain YAML values; got a {kind}")


def _json_dict(value: object) -> object:
    if value is None:  # an empty YAML section (every entry commented out)
        return {}
    if isinstance(value, Mapping):
        _check_json_like(value)
    return value


JsonDict = Annotated[dict[str, Any], BeforeValidator(_json_dict)]
"""A free mapping of plain values (``storage_options``): passed through untouched.

An empty YAML entry (``null``) reads as ``{}``."""


class Section(BaseModel):
    """Base of every config model: strict about keys, lenient about numeric text.

    ``repr`` and ``str`` mask secret values, so logging a config object by mistake does
    not leak credentials (use ``JobConfig.public_dict()`` for what is meant to be logged).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if is_secret_key(name) and value is not None:
                yield name, MASK
            elif isinstance(value, (dict, str)):
                yield name, mask_secrets(value)
            else:
                yield name, value


def changed(section: Section, key: str) -> bool:
    """Whether ``key`` was given a value other than its default.

    Keys that only apply in another mode (``batch_size`` with ``lloyd``, ``n_workers``
    with an ``address``) are refused only when changed: a default spelled out, as in a
    dumped config, is harmless, and so ``model_dump()`` output always validates again.
    """
    field = type(section).model_fields[key]
    return key in section.model_fields_set and getattr(section, key) != field.default
