"""Reading the schema's own structure, to check key paths and suggest corrections.

Used by ``--set`` overrides (is ``model.n_clusters`` a key?) and by validation messages
(``did you mean 'n_clusters'?``, ``'memory_limit' belongs in 'cluster'``).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

__all__ = ["allowed_keys", "did_you_mean", "is_free_mapping", "key_homes", "model_at", "submodel"]


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of ``X | None`` / ``Annotated[X, ...]``, ``None`` dropped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(annotation) for alt in _unwrap(arg)]
    return [] if annotation is type(None) else [annotation]


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds, if it holds one (``EvaluateConfig | None`` too)."""
    for alternative in _unwrap(annotation):
        if isinstance(alternative, type) and issubclass(alternative, BaseModel):
            return alternative
    return None


def is_free_mapping(annotation: Any) -> bool:
    """Whether a field is a pass-through mapping (``storage_options``)."""
    return any(
        alternative is dict or typing.get_origin(alternative) is dict
        for alternative in _unwrap(annotation)
    )


def model_at(schema: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The section model at ``path`` (list indices skipped), or ``None`` if there is none."""
    model: type[BaseModel] | None = schema
    for part in path:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        model = submodel(field.annotation) if field is not None else None
        if model is None:
            return None
    return model


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a section accepts, in declaration order."""
    return list(model.model_fields)


def key_homes(schema: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every key of the schema, mapped to the dotted sections that accept it.

    Examples
    --------
    >>> from dkmeans.config.schema import JobConfig
    >>> key_homes(JobConfig)["memory_limit"]
    ['cluster']
    """
    homes: dict[str, list[str]] = {}
    for name, field in schema.model_fields.items():
        homes.setdefault(name, []).append(".".join(prefix))
        child = submodel(field.annotation)
        if child is not None:
            for key, where in key_homes(child, (*prefix, name)).items():
                homes.setdefault(key, []).extend(where)
    return homes


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word`` (``difflib``), or ``None`` if none is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None
