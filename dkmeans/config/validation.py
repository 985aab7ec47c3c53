"""Stage 4 of loading a job: validation against the schema, with errors people can act on.

Pydantic's ``ValidationError`` is turned into a :class:`~dkmeans.errors.ConfigError` with one
line per problem, each naming the full key (``model.n_clusters``), what was expected and
what was got, with the line in the file (or "from --set"). Unknown keys get a
"did you mean" from the keys of their section, or the section they belong in. Values
under secret keys are shown as ``***``. No traceback or pydantic internals reach the
message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .base import RuleError
from .introspect import allowed_keys, did_you_mean, key_homes, model_at
from .keypath import KeyPath, format_path, format_position
from .secrets import MASK, is_secret_key

__all__ = ["explain_errors", "validate_config"]

M = TypeVar("M", bound=BaseModel)

_SECTION_TYPES = {"model_type", "dict_type", "model_attributes_type"}


class _Context:
    def __init__(
        self,
        schema: type[BaseModel],
        positions: Mapping[KeyPath, tuple[int, int]],
        overridden: frozenset[KeyPath],
    ):
        self.schema = schema
        self.positions = positions
        self.overridden = overridden

    def where(self, path: KeyPath) -> str:
        """`` (line 3, column 5)`` or `` (from --set)`` for the key, or its nearest parent."""
        for depth in range(len(path), 0, -1):
            prefix = path[:depth]
            if prefix in self.overridden:
                return " (from --set)"
            if prefix in self.positions:
                return format_position(self.positions[prefix])
        return ""


def _show(value: Any, path: KeyPath) -> str:
    if any(is_secret_key(part) for part in path):
        return MASK
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _expected(message: str, error_type: str) -> str:
    """Reword pydantic's "Input should be ..." as "expected ..."."""
    if message.startswith("Input should be "):
        text = message[len("Input should be ") :].split(", ")[0]
        if text.startswith(("greater", "less")):
            text = "a number " + text
        return "expected " + text
    return message[:1].lower() + message[1:]


def _unknown_key(err: Mapping[str, Any], path: KeyPath, ctx: _Context) -> str:
    key = path[-1]
    section = path[:-1]
    model = model_at(ctx.schema, section)
    keys = allowed_keys(model) if model is not None else []
    hints: list[str] = []
    wrong_kind = getattr(ctx.schema, "wrong_kind_hints", {})
    if not section and key in wrong_kind:
        hints.append(wrong_kind[key])
    elif isinstance(key, str) and (close := did_you_mean(key, keys)):
        hints.append(f"did you mean {close!r}?")
    elif isinstance(key, str):
        homes = [h for h in key_homes(ctx.schema).get(key, []) if h != format_path(section)]
        if homes:
            places = " or ".join(repr(h or "the top level") for h in homes)
            hints.append(f"{key!r} belongs in {places}")
    where = format_path(section) if section else "the top level"
    hints.append(f"{where} accepts: {', '.join(keys)}")
    return f"{format_path(path)}: unknown key{ctx.where(path)}; {'; '.join(hints)}"


def _rule(error: RuleError, loc: KeyPath, ctx: _Context) -> str:
    paths = [(*loc, *key.split(".")) for key in error.keys]
    names = ", ".join(format_path(p) for p in paths)
    where = next((w for w in (ctx.where(p) for p in paths) if w), "")
    return f"{names}: {error.message}{where}"


def _explain_one(err: Mapping[str, Any], ctx: _Context) -> str:
    path: KeyPath = tuple(err["loc"])
    error_type = err["type"]
    given = err.get("input")
    error = (err.get("ctx") or {}).get("error")
    name = format_path(path)
    if isinstance(error, RuleError):
        return _rule(error, path, ctx)
    if error_type == "extra_forbidden":
        return _unknown_key(err, path, ctx)
    if error_type == "missing":
        return f"{name}: required key is missing{ctx.where(path)}"
    if error_type in ("value_error", "assertion_error"):
        text = re.sub(r"^(Value|Assertion) error, ", "", err["msg"])
        return f"{name}: {text}{ctx.where(path)}"
    if error_type == "literal_error":
        options = re.findall(r"'([^']*)'", (err.get("ctx") or {}).get("expected", ""))
        close = did_you_mean(given, options) if isinstance(given, str) else None
        suggestion = f"; did you mean {close!r}?" if close else ""
        expected = ", ".join(repr(o) for o in options)
        got = _show(given, path)
        return f"{name}: expected one of {expected}; got {got}{suggestion}{ctx.where(path)}"
    if error_type in _SECTION_TYPES:
        got = _show(given, path)
        return f"{name}: expected a section (a mapping of keys); got {got}{ctx.where(path)}"
    if error_type == "string_pattern_mismatch" and path == ("name",):
        expected = "letters, digits, '_', '.' or '-', starting with a letter or digit, at most 100"
        return f"{name}: expected {expected}; got {_show(given, path)}{ctx.where(path)}"
    expected = _expected(err["msg"], error_type)
    hint = ""
    if error_type == "string_type" and isinstance(given, (int, float, bool)):
        hint = " (quote it in YAML to make it text)"
    return f"{name}: {expected}; got {_show(given, path)}{hint}{ctx.where(path)}"


def explain_errors(
    exc: ValidationError,
    schema: type[BaseModel],
    *,
    positions: Mapping[KeyPath, tuple[int, int]] | None = None,
    overridden: frozenset[KeyPath] = frozenset(),
) -> list[str]:
    """One readable line per problem in a pydantic ``ValidationError``.

    Parameters
    ----------
    exc : pydantic.ValidationError
        Raised by ``schema.model_validate``.
    schema : pydantic model class
        The job schema (for allowed keys and suggestions).
    positions : mapping, optional
        Line and column of each key path in the file.
    overridden : frozenset of tuple
        Key paths set by ``--set``.

    Returns
    -------
    list of str
    """
    ctx = _Context(schema, positions or {}, overridden)
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        line = _explain_one(err, ctx)
        if line not in lines:
            lines.append(line)
    return lines


def validate_config(
    data: Any,
    schema: type[M],
    *,
    source: str | None = None,
    positions: Mapping[KeyPath, tuple[int, int]] | None = None,
    overridden: frozenset[KeyPath] = frozenset(),
) -> M:
    """Validate a parsed config against ``schema``.

    Parameters
    ----------
    data : Any
        The parsed, interpolated and overridden config.
    schema : pydantic model class
        :class:`~dkmeans.config.schema.JobConfig` or
        :class:`~dkmeans.config.schema.PredictConfig`.
    source : str, optional
        File name for messages.
    positions : mapping, optional
        Line and column of each key path.
    overridden : frozenset of tuple
        Key paths set by ``--set``.

    Returns
    -------
    The validated model.

    Raises
    ------
    ConfigError
        With one line per problem (see the module docstring).
    """
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        lines = explain_errors(exc, schema, positions=positions, overridden=overridden)
    if len(lines) == 1:
        raise ConfigError(lines[0], source=source)
    raise ConfigError(f"{len(lines)} problems:\n  " + "\n  ".join(lines), source=source)
