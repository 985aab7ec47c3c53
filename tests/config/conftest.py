"""Fixtures for the config tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def write_config(tmp_path):
    """Write YAML text to ``job.yaml`` in a temporary folder and return its path as text."""

    def write(text: str, name: str = "job.yaml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write
