"""Stage 1 of loading a job: read the text and parse it as YAML, safely.

Only plain YAML is accepted: ``yaml.SafeLoader`` (no Python objects, nothing a config
could import or run), a single document, and a mapping at the top level. A few changes to
PyYAML's defaults make configs less surprising:

- dates stay text (``name: 2026-11-22`` is a string, not a ``datetime.date``);
- scalars follow YAML 1.2: only ``true``/``false`` are booleans (``country: NO`` and
  ``on``/``off``/``yes``/``no`` stay text; typed keys such as ``processes: yes`` still read
  them as booleans), ``12:30`` is not a base-60 number, a leading zero (``007``) does not
  make an octal number but text, and ``1e-6`` is a float;
- a key given twice in one mapping is an error, not silently the last one.

Syntax errors name the file, the line and the column. The parsed document also records
the line and column of every key, so later stages can point at the culprit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .keypath import KeyPath

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "ConfigLoader",
    "ParsedConfig",
    "parse_yaml",
    "read_source",
]

MAX_CONFIG_BYTES = 1 << 20
"""Larger files are refused: a job config is a page of YAML, not a data set."""

_MAX_POSITIONS = 10_000  # keys whose positions are recorded (aliases can multiply them)


MAX_DEPTH = 50
"""Deeper nesting is refused (a config needs a handful of levels; Python's stack is finite)."""


class ConfigLoader(yaml.SafeLoader):
    """``SafeLoader`` with YAML 1.2 scalars, duplicate keys refused and a nesting limit."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    first = seen[key_node.value]
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key_node.value!r} (first given at line {first.line + 1})",
                        key_node.start_mark,
                    )
                seen[key_node.value] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_REPLACED_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp")}
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.2 scalars instead of YAML 1.1's: only true/false are booleans (``country: NO``
# stays text), no base-60 numbers (``12:30`` stays text), and ``1e-6`` is a float.
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)"
        r"|[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


@dataclass(frozen=True)
class ParsedConfig:
    """A parsed job file.

    Attributes
    ----------
    data : dict
        The YAML document: nested dicts, lists and scalars.
    source : str or None
        The file it came from (``None`` for text given directly).
    positions : dict
        1-based ``(line, column)`` of each key, by key path (``("model", "n_clusters")``).
    """

    data: dict[str, Any]
    source: str | None = None
    positions: Mapping[KeyPath, tuple[int, int]] = field(default_factory=dict)


def read_source(path_or_text: str | os.PathLike[str]) -> tuple[str, str | None]:
    """Return the YAML text and the name of the file it came from.

    Parameters
    ----------
    path_or_text : str or os.PathLike
        A path (``os.PathLike``, or a ``str`` on one line that does not start with ``{``),
        or YAML text (a ``str`` spanning several lines, a one-line flow mapping ``{...}``,
        or a blank ``str``).

    Returns
    -------
    text : str
    source : str or None
        The path as given, or ``None`` for text.

    Raises
    ------
    ConfigError
        If the file is missing, unreadable, not UTF-8 or larger than 1 MiB.
    """
    if isinstance(path_or_text, str) and (
        "\n" in path_or_text or not path_or_text.strip() or path_or_text.lstrip().startswith("{")
    ):
        return path_or_text, None
    source = os.fspath(path_or_text)
    path = Path(source)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            problem = f"the file is larger than {MAX_CONFIG_BYTES} bytes; is it a config?"
        else:
            return path.read_text(encoding="utf-8"), source
    except FileNotFoundError:
        problem = "config file not found"
    except IsADirectoryError:
        problem = "this is a folder, not a config file"
    except PermissionError:
        problem = "the config file cannot be read (permission denied)"
    except UnicodeDecodeError as exc:
        problem = f"the config file is not UTF-8 text (byte {exc.start})"
    except OSError as exc:
        problem = f"the config file cannot be read: {exc.strerror}"
    raise ConfigError(problem, source=source)


def _syntax_message(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        message = f"YAML error at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
        if exc.context and exc.context_mark is not None:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        lines = text.splitlines()
        if mark.line < len(lines) and "${" in lines[mark.line] and "flow" in str(exc.context):
            message += '; inside {...} or [...], quote values that use ${VAR}: "${VAR}"'
        return message
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return (
            f"YAML error at line {line}, column {column}: character #x{exc.character:04x} "
            f"is not allowed ({exc.reason})"
        )
    return f"YAML error: {exc}"


def _record_positions(node: yaml.Node, path: KeyPath, out: dict[KeyPath, tuple[int, int]]) -> None:
    if len(out) >= _MAX_POSITIONS:
        return
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, key_node.value)
                mark = key_node.start_mark
                out.setdefault(child, (mark.line + 1, mark.column + 1))
                _record_positions(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            out.setdefault(child, (item.start_mark.line + 1, item.start_mark.column + 1))
            _record_positions(item, child, out)


def _describe(value: object) -> str:
    return {list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), f"a {type(value).__name__}"
    )


def parse_yaml(text: str, *, source: str | None = None) -> ParsedConfig:
    """Parse one YAML document whose top level is a mapping.

    Parameters
    ----------
    text : str
        The YAML text.
    source : str, optional
        File name for messages.

    Returns
    -------
    ParsedConfig

    Raises
    ------
    ConfigError
        On a syntax error (naming line and column), several documents, a duplicate key,
        an empty document, or a top level that is not a mapping.
    """
    loader: ConfigLoader | None = None
    try:
        loader = ConfigLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(_syntax_message(exc, text), source=source) from None
    except RecursionError:
        raise ConfigError("YAML error: the document is nested too deeply", source=source) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a bad !!binary or !!float
        raise ConfigError(f"YAML error: a value cannot be read ({exc})", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise ConfigError(
            "the config is empty; expected a mapping with name, input, model and output",
            source=source,
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"the top level must be a mapping of sections (name, input, model, output, ...); "
            f"got {_describe(data)}",
            source=source,
        )
    positions: dict[KeyPath, tuple[int, int]] = {}
    try:
        _record_positions(node, (), positions)
    except RecursionError:  # positions are a courtesy; the document itself is fine
        positions.clear()
    return ParsedConfig(data=data, source=source, positions=positions)
