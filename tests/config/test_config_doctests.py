"""The examples in the config modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "dkmeans.config.units",
    "dkmeans.config.secrets",
    "dkmeans.config.keypath",
    "dkmeans.config.introspect",
    "dkmeans.config.schema",
    "dkmeans.config.loader",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
