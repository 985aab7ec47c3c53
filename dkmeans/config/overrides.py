"""Stage 3 of loading a job: ``--set key.path=value`` overrides.

``--set model.n_clusters=12`` replaces one value after interpolation and before
validation. The path is dotted and must name a key of the schema (``--set
model.n_cluster=12`` fails with "did you mean 'n_clusters'?"); below a pass-through
mapping (``input.storage_options.endpoint_url``) any key is accepted. The value is read
as YAML: ``12`` is an int, ``[2, 8]`` a list, ``true`` a bool, ``null`` none, anything
else text; quote it to force text (``--set name='"007"'``). Setting a whole section
replaces it (``--set 'cluster={address: tcp://sched:8786}'``). Later overrides win.
Values are not interpolated: the shell has already expanded ``$VAR`` on the command line.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel

from ..errors import ConfigError
from .introspect import allowed_keys, did_you_mean, is_free_mapping, submodel
from .keypath import KeyPath
from .parse import ConfigLoader

__all__ = ["apply_overrides", "parse_override"]


def _parse_value(text: str, override: str, source: str | None) -> Any:
    loader: ConfigLoader | None = None
    try:
        loader = ConfigLoader(text)
        return loader.get_single_data()
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"--set {override!r}: the value is not valid YAML ({problem}); quote it if it is text",
            source=source,
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_override(override: str, *, source: str | None = None) -> tuple[tuple[str, ...], Any]:
    """Split ``"model.n_clusters=12"`` into ``(("model", "n_clusters"), 12)``.

    Parameters
    ----------
    override : str
        ``dotted.key.path=value``.
    source : str, optional
        The config file, named in messages.

    Returns
    -------
    path : tuple of str
    value : Any
        The value read as YAML.

    Raises
    ------
    ConfigError
        If there is no ``=``, or the path has an empty part, or the value is not YAML.
    """
    key, sep, raw = override.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not sep or not all(path):
        raise ConfigError(
            f"--set {override!r}: expected dotted.key=value, such as model.n_clusters=12",
            source=source,
        )
    return path, _parse_value(raw, override, source)


def _check_path(
    schema: type[BaseModel], path: tuple[str, ...], override: str, source: str | None
) -> None:
    model: type[BaseModel] = schema
    for depth, part in enumerate(path):
        keys = allowed_keys(model)
        if part not in keys:
            where = ".".join(path[:depth]) or "the top level"
            hint = did_you_mean(part, keys)
            suggestion = f"; did you mean {'.'.join((*path[:depth], hint))!r}?" if hint else ""
            raise ConfigError(
                f"--set {override!r}: {'.'.join(path[: depth + 1])!r} is not a key "
                f"({where} accepts {', '.join(keys)}){suggestion}",
                source=source,
            )
        annotation = model.model_fields[part].annotation
        if is_free_mapping(annotation):
            return  # storage_options: anything below is passed through
        child = submodel(annotation)
        if child is None:
            if depth + 1 < len(path):
                culprit = ".".join(path[: depth + 1])
                raise ConfigError(
                    f"--set {override!r}: {culprit!r} is a value, not a section", source=source
                )
            return
        model = child


def _assign(
    data: dict[str, Any], path: tuple[str, ...], value: Any, override: str, source: str | None
) -> None:
    node = data
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(
                f"--set {override!r}: {'.'.join(path[: depth + 1])!r} holds "
                f"{type(child).__name__}, not a section, in the config",
                source=source,
            )
        node = child
    node[path[-1]] = value


def apply_overrides(
    data: dict[str, Any],
    overrides: Sequence[str],
    *,
    schema: type[BaseModel],
    source: str | None = None,
) -> tuple[dict[str, Any], frozenset[KeyPath]]:
    """Apply ``--set`` overrides to a parsed, interpolated config.

    Parameters
    ----------
    data : dict
        The config (not modified).
    overrides : sequence of str
        ``dotted.key=value`` strings, applied in order.
    schema : pydantic model class
        The job schema the paths are checked against.
    source : str, optional
        The config file, named in messages.

    Returns
    -------
    data : dict
        A copy with the overrides applied.
    overridden : frozenset of tuple
        The key paths set, so validation errors can say a value came from ``--set``.

    Raises
    ------
    ConfigError
        For a malformed override, a path that is not a key (with a suggestion), or a path
        that runs through a value.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    result = copy.deepcopy(data)
    overridden: set[KeyPath] = set()
    for override in overrides:
        path, value = parse_override(override, source=source)
        _check_path(schema, path, override, source)
        _assign(result, path, value, override, source)
        overridden.add(path)
    return result, frozenset(overridden)
