"""Read and write overhead of a whole job against bare pyarrow.

Target: on a local Parquet dataset of 10,000,000 x 16 float32, the job's time outside the fit
is at most 1.5 x (a bare pyarrow read of the features + a bare pyarrow write of the labels).

- The dataset (``row_id`` int64, ``x0..x15`` float32, ``label`` int32; 10 files of 1,000,000
  rows) is generated once by :func:`dkmeans.generate.generate_blobs` and cached under
  ``bench/data/`` (git-ignored). ``DKMEANS_BENCH_IO_ROWS`` sets another size (e.g. 1000000
  while developing); with less than 5 GB free disk the size drops to 1,000,000 rows, saying so.
- Baseline: every file's 16 feature columns read with ``pyarrow.parquet.read_table`` into one
  (n, 16) float32 array per file (all kept, as the job keeps its blocks), and one ``row_id`` +
  ``cluster`` (int32) file written per input file, serially and on a pool of 2 threads (the
  job's 2 workers x 1 thread); the better of the two is the baseline. Measured before and after
  the job; the smaller time is kept. The file cache is warm for both (one untimed read first).
- Job: :func:`dkmeans.runner.run_job` on a LocalCluster of 2 processes x 1 thread started (and
  warmed up with a small job on the first two files, so that both workers have imported
  and loaded numba's cached kernels) before timing. Outside the fit = wall-clock
  around ``run_job`` - ``phase_seconds["fit"]``. The Dask task stream of the job is summed per
  task prefix, to show where the workers' time goes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROWS = 10_000_000
SMALL_ROWS = 1_000_000
FEATURES = 16
CENTERS = 8
ROWS_PER_FILE = 1_000_000
THREADS = 2
TARGET = 1.5
MIN_FREE_BYTES = 5 * 10**9
DATA_DIR = Path(__file__).resolve().parent / "data"
FEATURE_NAMES = [f"x{j}" for j in range(FEATURES)]


# --------------------------------------------------------------------------------------------
# The dataset


def choose_rows() -> int:
    rows = int(os.environ.get("DKMEANS_BENCH_IO_ROWS", ROWS))
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(DATA_DIR).free
    if free < MIN_FREE_BYTES and rows > SMALL_ROWS:
        print(f"  only {free / 1e9:.1f} GB free under {DATA_DIR} (< {MIN_FREE_BYTES / 1e9:.0f} GB):"
              f" scaling the dataset down from {rows:,} to {SMALL_ROWS:,} rows; the numbers are"
              " NOT those of the 10M-row target", flush=True)
        rows = SMALL_ROWS
    return rows


def dataset_dir(rows: int) -> Path:
    return DATA_DIR / f"io-blobs-{rows}x{FEATURES}-k{CENTERS}-seed0"


def _cached_files(folder: Path, rows: int) -> list[Path] | None:
    import pyarrow.parquet as pq

    files = sorted(folder.glob("part-*.parquet"))
    if len(files) != -(-rows // ROWS_PER_FILE):
        return None
    try:
        total = sum(pq.read_metadata(f).num_rows for f in files)
        names = pq.read_schema(files[0]).names
    except Exception:  # noqa: BLE001 - anything unreadable: generate again
        return None
    if total != rows or not set(FEATURE_NAMES + ["row_id"]) <= set(names):
        return None
    return files


def ensure_dataset(rows: int) -> list[Path]:
    """The part files of the cached dataset, generated first when absent or incomplete."""
    import dask

    from dkmeans.generate import generate_blobs

    folder = dataset_dir(rows)
    files = _cached_files(folder, rows)
    if files is not None:
        print(f"  dataset: {folder} (cached, {len(files)} files)", flush=True)
        return files
    print(f"  generating {rows:,} x {FEATURES} float32 into {folder} ...", flush=True)
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        summary = generate_blobs(str(folder), rows=rows, features=FEATURES, centers=CENTERS,
                                 rows_per_file=ROWS_PER_FILE, seed=0, overwrite=True)
    print(f"  generated {summary['files']} files, {summary['bytes'] / 1e6:.0f} MB in "
          f"{summary['seconds']:.1f} s", flush=True)
    files = _cached_files(folder, rows)
    assert files is not None, folder
    return files


# --------------------------------------------------------------------------------------------
# The baseline: bare pyarrow


def read_features(path: Path) -> np.ndarray:
    """One file's features as an (n, 16) float32 array, as plainly as pyarrow allows.

    Each column's ``to_numpy`` stacked as a row of a (16, n) array, returned transposed: an
    (n, 16) array in Fortran order, made with contiguous copies only. (A row-major result, as
    ``np.column_stack`` builds it, costs about twice as much here, so it would make the target
    looser; the job itself builds row-major blocks.)
    """
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=FEATURE_NAMES)
    return np.stack([table.column(c).to_numpy() for c in FEATURE_NAMES]).T


def write_labels(args) -> int:
    """One label file: ``row_id`` and ``cluster`` (int32), pyarrow's defaults (snappy)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path, row_id, cluster = args
    pq.write_table(pa.table({"row_id": row_id, "cluster": cluster}), path)
    return os.path.getsize(path)


def _map(func, items, threads):
    if threads == 1:
        return [func(x) for x in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(func, items))


def label_inputs(files: list[Path]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``row_id`` and the true blob of every row (untimed), to write as the baseline's labels.

    The true blobs are what k-means finds here (up to a permutation), so the label files
    compress as the job's do.
    """
    import pyarrow.parquet as pq

    out = []
    for f in files:
        t = pq.read_table(f, columns=["row_id", "label"])
        out.append((t.column("row_id").to_numpy(),
                    t.column("label").to_numpy().astype(np.int32, copy=False)))
    return out


def baseline(files: list[Path], labels, scratch: Path) -> dict:
    """Seconds of the bare read and write, serial and on ``THREADS`` threads."""
    out = {}
    for threads in (1, THREADS):
        started = time.perf_counter()
        arrays = _map(read_features, files, threads)
        out[f"read_{threads}t_s"] = time.perf_counter() - started
        assert sum(len(a) for a in arrays) == sum(len(r) for r, _ in labels)
        assert arrays[0].dtype == np.float32 and arrays[0].shape[1] == FEATURES
        del arrays
        folder = scratch / f"baseline-{threads}t"
        folder.mkdir(parents=True)
        jobs = [(folder / f"part-{i:05d}.parquet", r, c) for i, (r, c) in enumerate(labels)]
        started = time.perf_counter()
        sizes = _map(write_labels, jobs, threads)
        out[f"write_{threads}t_s"] = time.perf_counter() - started
        out["label_bytes"] = int(sum(sizes))
        shutil.rmtree(folder)
    # reading row_id is part of the job's write pass but not of the baseline: shown apart
    import pyarrow.parquet as pq

    started = time.perf_counter()
    _map(lambda f: pq.read_table(f, columns=["row_id"]), files, THREADS)
    out["read_row_id_2t_s"] = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------------------------
# The job


JOB_YAML = """\
name: bench-io
input:
  url: {input}
  features: [{features}]
  id_columns: [row_id]
  dtype: float32
model:
  n_clusters: {k}
  random_state: 0
cluster:
  n_workers: 2
  threads_per_worker: 1
  memory_limit: 6GiB
  dashboard_address: null
output:
  url: {output}
  mode: overwrite
report:
  html: false
checkpoint:
  enabled: false
"""


def job_config(input_url: str, output_url: str):
    from dkmeans.config import load_config

    return load_config(JOB_YAML.format(input=input_url, output=output_url, k=CENTERS,
                                       features=", ".join(FEATURE_NAMES)))


def _prefix(key) -> str:
    from dask.utils import key_split

    return key_split(key)


def task_seconds(stream: list[dict]) -> dict:
    """Worker-seconds per task prefix and per kind (compute, transfer, disk) from a task stream."""
    by_prefix: dict[str, float] = defaultdict(float)
    by_kind: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for task in stream:
        prefix = _prefix(task["key"])
        counts[prefix] += 1
        for span in task.get("startstops", ()):
            seconds = span["stop"] - span["start"]
            by_kind[span["action"]] += seconds
            if span["action"] == "compute":
                by_prefix[prefix] += seconds
    return {"compute_by_prefix": dict(sorted(by_prefix.items(), key=lambda kv: -kv[1])),
            "tasks_by_prefix": dict(counts), "by_action": dict(by_kind)}


def run_dkmeans(client, input_url: str, output_url: str) -> dict:
    """Run one job; wall-clock, phases and the task stream summary."""
    from distributed import get_task_stream

    from dkmeans.runner import run_job

    cfg = job_config(input_url, output_url)
    with get_task_stream(client=client) as ts:
        started = time.perf_counter()
        metrics = run_job(cfg, client=client)
        wall = time.perf_counter() - started
    phases = dict(metrics["phase_seconds"])
    fit = sum(v for k, v in phases.items() if k == "fit" or k.startswith("fit-k"))
    return {"wall_s": wall, "fit_s": fit, "fit_seconds_metric": metrics["fit_seconds"],
            "outside_fit_s": wall - fit, "phase_seconds": phases,
            "untimed_by_phases_s": wall - sum(phases.values()),
            "n_iter": metrics["n_iter"], "inertia": metrics["inertia"], "rows": metrics["rows"],
            "tasks": task_seconds(ts.data)}


def check_output(output: Path, rows: int) -> dict:
    """The published labels read back by pyarrow (and DuckDB when it is installed)."""
    import pyarrow.parquet as pq

    table = pq.read_table(output / "labels")
    assert table.num_rows == rows, (table.num_rows, rows)
    assert table.schema.field("cluster").type == "int32"
    ids = table.column("row_id").to_numpy()
    assert len(np.unique(ids)) == rows
    out = {"pyarrow_rows": table.num_rows}
    try:
        import duckdb
    except ImportError:
        out["duckdb"] = "not installed"
        return out
    n, k = duckdb.sql(f"SELECT count(*), count(DISTINCT cluster) FROM read_parquet("
                      f"'{output}/labels/*.parquet')").fetchone()
    assert n == rows
    out["duckdb"] = {"rows": n, "clusters": k}
    return out


# --------------------------------------------------------------------------------------------


def run(results: dict) -> None:
    """Fill ``results['io']`` and print the table."""
    import logging

    rows = choose_rows()
    files = ensure_dataset(rows)
    folder = dataset_dir(rows)
    row = {"rows": rows, "features": FEATURES, "files": len(files),
           "input_bytes": int(sum(f.stat().st_size for f in files)), "target_ratio": TARGET}

    for f in files:  # warm the file cache: both sides read from memory
        read_features(f)
    labels = label_inputs(files)
    # the job's per-phase log lines would interleave with the table; restored below
    quiet = {name: logging.getLogger(name).level for name in ("dkmeans", "distributed")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    row["loadavg_1min"] = {"start": os.getloadavg()[0]}
    try:
        _measure(row, files, folder, labels)
    finally:
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    row["loadavg_1min"]["end"] = os.getloadavg()[0]
    results["io"] = row
    print(_format(row), flush=True)


def _measure(row: dict, files: list[Path], folder: Path, labels) -> None:
    from distributed import Client, LocalCluster

    rows = row["rows"]
    with tempfile.TemporaryDirectory(prefix="_bench-io-", dir=DATA_DIR) as tmp:
        scratch = Path(tmp)
        before = baseline(files, labels, scratch)

        started = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0", memory_limit="6GiB") as cluster, \
                Client(cluster) as client:
            row["cluster_start_s"] = time.perf_counter() - started
            # warm-up: imports, numba's cached kernels (~0.5 s on the first call in a process)
            # and the first connections, on both workers (one chunk per file)
            first = str(files[0]) if len(files) == 1 else f"{folder}/part-0000[01].parquet"
            warm = run_dkmeans(client, first, str(scratch / "warmup"))
            row["warmup_job"] = {k: warm[k] for k in ("wall_s", "fit_s", "outside_fit_s",
                                                       "phase_seconds")}
            job = run_dkmeans(client, str(folder), str(scratch / "out"))
        row["dkmeans"] = job
        row["output_check"] = check_output(scratch / "out", rows)

        after = baseline(files, labels, scratch)
    row["baseline_runs"] = [before, after]
    best = {k: min(before[k], after[k]) for k in before if k.endswith("_s")}
    row["baseline"] = best
    row["baseline_read_s"] = min(best["read_1t_s"], best[f"read_{THREADS}t_s"])
    row["baseline_write_s"] = min(best["write_1t_s"], best[f"write_{THREADS}t_s"])
    row["baseline_s"] = row["baseline_read_s"] + row["baseline_write_s"]
    row["outside_fit_s"] = job["outside_fit_s"]
    row["ratio"] = job["outside_fit_s"] / row["baseline_s"]
    row["meets_target"] = row["ratio"] <= TARGET


def _format(row) -> str:
    b, job = row["baseline"], row["dkmeans"]
    lines = [
        f"{row['rows']:,} x {row['features']} float32, {row['files']} files, "
        f"{row['input_bytes'] / 1e6:.0f} MB (warm file cache; 1-min load average "
        f"{row['loadavg_1min']['start']:.1f} -> {row['loadavg_1min']['end']:.1f} on "
        f"{os.cpu_count()} CPUs)",
        f"  {'baseline read (pyarrow)':34s} serial {b['read_1t_s']:6.2f} s   "
        f"{THREADS} threads {b[f'read_{THREADS}t_s']:6.2f} s   -> {row['baseline_read_s']:.2f} s",
        f"  {'baseline write (pyarrow)':34s} serial {b['write_1t_s']:6.2f} s   "
        f"{THREADS} threads {b[f'write_{THREADS}t_s']:6.2f} s   -> {row['baseline_write_s']:.2f} s",
        f"  {'baseline read + write':34s} {row['baseline_s']:.2f} s"
        f"   (row_id read alone, {THREADS} threads: {b['read_row_id_2t_s']:.2f} s)",
        f"  {'dkmeans job wall-clock':34s} {job['wall_s']:.2f} s   (cluster start "
        f"{row['cluster_start_s']:.1f} s, not counted)",
        f"  {'dkmeans fit':34s} {job['fit_s']:.2f} s   ({job['n_iter']} iterations)",
        f"  {'dkmeans outside the fit':34s} {job['outside_fit_s']:.2f} s",
        "  phases: " + ", ".join(f"{k} {v:.2f}" for k, v in job["phase_seconds"].items())
        + f", outside any phase {job['untimed_by_phases_s']:.2f}",
        "  worker compute by task: " + ", ".join(
            f"{k} {v:.2f} s ({job['tasks']['tasks_by_prefix'][k]})"
            for k, v in list(job["tasks"]["compute_by_prefix"].items())[:8]),
        "  worker time by action: " + ", ".join(
            f"{k} {v:.2f} s" for k, v in job["tasks"]["by_action"].items()),
        f"  {'ratio outside-fit / baseline':34s} {row['ratio']:.2f}   target <= {TARGET}   "
        f"{'MET' if row['meets_target'] else 'MISSED'}",
        f"  output read back: {row['output_check']}",
    ]
    return "\n".join(lines)
