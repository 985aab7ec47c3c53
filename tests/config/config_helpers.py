"""Helpers for the config tests: a minimal valid job, edited by dotted paths.

A module of its own (not conftest.py) so that ``from config_helpers import ...`` cannot pick
up another directory's conftest.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

MINIMAL_JOB: dict[str, Any] = {
    "name": "demo",
    "input": {"url": "data/x/"},
    "model": {"n_clusters": 8},
    "output": {"url": "out/x/"},
}
MINIMAL_PREDICT: dict[str, Any] = {
    "name": "demo-predict",
    "predict": {"model_url": "out/x/"},
    "input": {"url": "data/new/"},
    "output": {"url": "out/new/"},
}

DELETE = object()
"""Marker: remove the key at this path."""


def edited(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``{"model.n_clusters": 3, "output.url": DELETE}`` applied."""
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def job_yaml(changes: dict[str, Any] | None = None, *, base: dict[str, Any] = MINIMAL_JOB) -> str:
    """Block-style YAML of the minimal job with ``changes`` applied."""
    return yaml.safe_dump(edited(base, changes or {}), sort_keys=False)
