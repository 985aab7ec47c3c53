"""Stage 2 of loading a job: ``${VAR}`` interpolation from the environment.

In every string value (not in keys):

- ``${VAR}`` is replaced by the variable's value; an unset variable is an error that
  names the variable and the key where it was used;
- ``${VAR:-default}`` uses ``default`` when ``VAR`` is unset or empty (as in a shell);
  the default is taken literally (no nested references);
- ``$${`` stands for a literal ``${``; a ``$`` not followed by ``{`` is kept as is.

Substituted values are not scanned again, so an environment value that contains
``${...}`` stays as it is. The result is always text; the schema then reads numbers and
booleans from it (``n_clusters: ${K:-8}`` gives 8).

Values of environment variables whose names look secret (``AWS_SECRET_ACCESS_KEY``,
``*_TOKEN``; see :func:`dkmeans.config.secrets.is_secret_key`), and values interpolated
into secret keys, are returned so the loaded config can redact them from free text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .keypath import KeyPath, format_path, format_position
from .secrets import is_secret_key

__all__ = ["MAX_NODES", "interpolate", "interpolate_string"]

MAX_NODES = 100_000
"""A config with more values than this is refused (YAML aliases can multiply a document)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Interpolation(ValueError):
    """A reference that cannot be resolved; the caller adds where it was."""


def interpolate_string(text: str, environ: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Resolve the references in one string.

    Parameters
    ----------
    text : str
        A config value.
    environ : mapping of str to str
        The variables.

    Returns
    -------
    value : str
        ``text`` with references replaced.
    used : dict of str to str
        The variables whose values were substituted.

    Raises
    ------
    ValueError
        For an unset variable without default, an unterminated ``${`` or a malformed name.
    """
    out: list[str] = []
    used: dict[str, str] = {}
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out), used
        out.append(text[i:j])
        if text.startswith("$${", j):
            out.append("${")
            i = j + 3
        elif text.startswith("${", j):
            end = text.find("}", j + 2)
            if end < 0:
                raise _Interpolation(
                    f"'${{' is not closed by '}}' in {text!r} (write $${{ for a literal ${{)"
                )
            out.append(_resolve(text[j + 2 : end], environ, used))
            i = end + 1
        else:
            out.append("$")
            i = j + 1


def _resolve(body: str, environ: Mapping[str, str], used: dict[str, str]) -> str:
    name, has_default, default = body.partition(":-")
    if not _NAME.fullmatch(name):
        raise _Interpolation(
            f"'${{{body}}}' is not a variable reference; expected ${{NAME}} or ${{NAME:-default}}"
        )
    value = environ.get(name)
    if value is None or (has_default and value == ""):
        if has_default:
            return default
        raise _Interpolation(
            f"environment variable {name!r} is not set "
            f"(set it, or give a default: ${{{name}:-...}})"
        )
    used[name] = value
    return value


class _Walk:
    """One pass over a parsed document: copy it, resolving references in strings."""

    def __init__(
        self,
        environ: Mapping[str, str],
        source: str | None,
        positions: Mapping[KeyPath, tuple[int, int]],
    ):
        self.environ = environ
        self.source = source
        self.positions = positions
        self.secrets: set[str] = set()
        self.nodes = 0

    def fail(self, path: KeyPath, message: str) -> ConfigError:
        where = format_path(path) + format_position(self.positions.get(path))
        return ConfigError(f"{where}: {message}", source=self.source)

    def value(self, obj: Any, path: KeyPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError(
                f"the config holds more than {MAX_NODES} values (YAML aliases?); refused",
                source=self.source,
            )
        if isinstance(obj, str):
            return self.string(obj, path)
        if isinstance(obj, dict):
            copy: dict[str, Any] = {}
            for key, item in obj.items():
                if not isinstance(key, str):
                    raise self.fail((*path, str(key)), f"keys must be text; got {key!r} (quote it)")
                copy[key] = self.value(item, (*path, key))
            return copy
        if isinstance(obj, list):
            return [self.value(item, (*path, index)) for index, item in enumerate(obj)]
        if obj is None or isinstance(obj, (bool, int, float)):
            return obj
        raise self.fail(path, f"expected plain YAML values; got a {type(obj).__name__}")

    def string(self, text: str, path: KeyPath) -> str:
        if "$" not in text:
            return text
        try:
            value, used = interpolate_string(text, self.environ)
        except _Interpolation as exc:
            raise self.fail(path, str(exc)) from None
        self.secrets.update(v for name, v in used.items() if v and is_secret_key(name))
        if used and any(is_secret_key(part) for part in path) and value:
            self.secrets.add(value)
        return value


def interpolate(
    data: dict[str, Any],
    environ: Mapping[str, str],
    *,
    source: str | None = None,
    positions: Mapping[KeyPath, tuple[int, int]] | None = None,
) -> tuple[dict[str, Any], frozenset[str]]:
    """Resolve ``${VAR}`` references in every string value of a parsed config.

    Parameters
    ----------
    data : dict
        The parsed document (not modified).
    environ : mapping of str to str
        The variables, usually ``os.environ``.
    source : str, optional
        File name for messages.
    positions : mapping, optional
        Line and column of each key path, for messages.

    Returns
    -------
    data : dict
        A copy with references resolved.
    secrets : frozenset of str
        Values that must be redacted from free text (see the module docstring).

    Raises
    ------
    ConfigError
        Naming the key path (and line) of an unset variable or a malformed reference, a
        non-text key, a value YAML produced that a config cannot hold, or a document
        with more than :data:`MAX_NODES` values.
    """
    walk = _Walk(environ, source, positions or {})
    try:
        result = walk.value(data, ())
    except RecursionError:
        raise ConfigError("the config is nested too deeply", source=source) from None
    return result, frozenset(walk.secrets)
