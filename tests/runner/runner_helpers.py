"""Small data and configs for the job runner tests."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]


def write_blobs(folder, *, rows=6000, features=4, centers=4, files=3, seed=0, std=1.0):
    """Blobs as Parquet files with row_id, x0.., label; returns the full table."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10, 10, (centers, features))
    label = rng.integers(0, centers, rows)
    X = (means[label] + rng.normal(0, std, (rows, features))).astype(np.float32)
    table = pa.table({"row_id": np.arange(rows, dtype=np.int64),
                      **{f"x{j}": X[:, j] for j in range(features)},
                      "label": label.astype(np.int32)})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, rows, files + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        pq.write_table(table.slice(a, b - a), folder / f"part-{i:05d}.parquet", row_group_size=1000)
    return table


LOCAL_THREADS = "{n_workers: 1, threads_per_worker: 2, processes: false, dashboard_address: null}"


def job_yaml(data, out, *, extra="", cluster=LOCAL_THREADS):
    """A small fit job, by default on a threaded in-process cluster (quick to start).

    ``cluster`` is the ``cluster`` section as a YAML flow mapping."""
    return textwrap.dedent(f"""\
        name: test-job
        input: {{url: "{data}", id_columns: [row_id]}}
        model: {{n_clusters: 4, random_state: 0}}
        evaluate: {{label_column: label}}
        cluster: {cluster}
        output: {{url: "{out}", mode: overwrite, distance: true}}
        report: {{html: false}}
        """) + textwrap.dedent(extra)


def run_cli(*args, cwd=None, env=None, timeout=180):
    """Run ``python -m dkmeans.cli ...`` as a real process."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "dkmeans.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
