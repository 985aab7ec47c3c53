"""Helpers of the storage tests: Parquet folders as pyarrow/Spark write them, fake credentials."""

from __future__ import annotations

import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

# Distinctive fake credentials: tests grep every written file for them.
S3_KEY = "AKIADKMEANSTESTKEY0001"
S3_SECRET = "dkmeans-test-secret-Zq8w3xP0"
ENV_KEY = "AKIADKMEANSENVKEY00002"
ENV_SECRET = "dkmeans-env-secret-Lm4v7yQ2"
SECRETS = (S3_KEY, S3_SECRET, ENV_KEY, ENV_SECRET)
BUCKET = "dkmeans-test"

#: The numeric feature columns of :func:`make_table`.
FEATURES = ["recency", "frequency", "monetary"]
#: Two centres in the space of FEATURES.
CENTERS = np.array([[20.0, 0.5, 200.0], [80.0, 0.5, 800.0]])


def make_table(n: int, seed: int = 0) -> pa.Table:
    """``n`` rows: ``customer_id`` (unique), ``region`` (string), ``flag`` (bool), three
    numeric features of different types (float64, float32, int64) and ``grp`` (0..2)."""
    rng = np.random.default_rng(seed)
    return pa.table({
        "customer_id": pa.array(np.arange(n, dtype=np.int64) * 10 + seed),
        "region": pa.array(rng.choice(["north", "south"], n)),
        "flag": pa.array(rng.random(n) < 0.5),
        "recency": pa.array(rng.random(n) * 100.0),
        "frequency": pa.array(rng.random(n).astype(np.float32)),
        "monetary": pa.array(rng.integers(0, 1000, n)),
        "grp": pa.array(np.arange(n) % 3),
    })


def write_hive(table: pa.Table, base, *, rows_per_group: int = 100, filesystem=None) -> None:
    """Write ``table`` partitioned by ``grp`` (hive flavour), plus Spark/Hadoop noise files."""
    pads.write_dataset(
        table, str(base), format="parquet", partitioning=["grp"], partitioning_flavor="hive",
        max_rows_per_group=rows_per_group, min_rows_per_group=rows_per_group,
        basename_template="part-{i}.parquet", filesystem=filesystem,
        existing_data_behavior="overwrite_or_ignore",
    )


def add_noise_files(base) -> None:
    """Files a reader must ignore: markers, checksums and hidden folders."""
    base = str(base)
    for rel in ["_SUCCESS", "_committed_123", "grp=1/.part-0.parquet.crc", "grp=0/x.crc",
                "_temporary/0/part-9.parquet", ".hidden/part-0.parquet"]:
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"not parquet")


def sorted_reference(base, columns) -> pa.Table:
    """What the reader should produce: files in sorted path order, rows in file order."""
    from dkmeans.io.listing import is_ignored

    paths = []
    for root, dirs, files in os.walk(str(base)):
        for name in files:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, str(base)).replace(os.sep, "/")
            if not is_ignored(rel):
                paths.append(full)
    tables = []
    for p in sorted(paths):
        t = pq.read_table(p)
        grp = int(p.split("grp=")[1].split("/")[0]) if "grp=" in p else None
        if "grp" in columns and "grp" not in t.column_names:
            t = t.append_column("grp", pa.array([grp] * t.num_rows, pa.int64()))
        tables.append(t.select(columns))
    return pa.concat_tables(tables)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
