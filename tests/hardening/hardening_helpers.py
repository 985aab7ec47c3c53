"""Helpers of the hardening tests: small Parquet folders and job configs.

A module of its own (not conftest.py) so that ``from hardening_helpers import ...`` cannot
pick up another directory's conftest.
"""

import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def job_text(data, out, *, k=3, extra=""):
    """A fit job of ``k`` clusters on every numeric column but ``row_id``."""
    return textwrap.dedent(f"""\
        name: hardening
        input: {{url: "{data}", id_columns: [row_id]}}
        model: {{n_clusters: {k}, random_state: 0}}
        cluster: {{n_workers: 1, threads_per_worker: 2, processes: false,
                   dashboard_address: null}}
        output: {{url: "{out}", mode: overwrite, distance: true}}
        report: {{html: false}}
        """) + textwrap.dedent(extra)


def write_table(folder, columns, *, name="part-00000.parquet"):
    """One Parquet file of ``columns`` (dict of arrays) in ``folder``; returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pq.write_table(pa.table(columns), path)
    return path


def small_columns(n=120, *, seed=0):
    """``row_id`` and three features of three well separated blobs."""
    rng = np.random.default_rng(seed)
    centre = rng.integers(0, 3, n)
    X = np.array([[0, 0, 0], [20, 0, 0], [0, 20, 0]], float)[centre] + rng.normal(0, 1, (n, 3))
    return {"row_id": np.arange(n, dtype=np.int64),
            **{f"x{j}": X[:, j] for j in range(3)}}


def published(out):
    """True when ``out`` holds a published result (or any label part)."""
    out = Path(out)
    return (out / "_SUCCESS").exists() or (out / "labels").exists()
