"""generate_blobs: layout, types, values and determinism."""

from __future__ import annotations

import os

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dkmeans.errors import UserInputError
from dkmeans.generate import BLOCK_ROWS, blob_centers, generate_blobs


def parts(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith(("_", ".")))


def file_bytes(folder) -> dict[str, bytes]:
    return {n: open(os.path.join(folder, n), "rb").read() for n in parts(folder)}


def test_files_rows_and_global_row_ids(tmp_path):
    out = tmp_path / "blobs"
    summary = generate_blobs(str(out), rows=1000, features=3, centers=4, rows_per_file=300)

    assert summary["files"] == 4 and summary["rows"] == 1000
    assert summary["parts"] == [f"part-0000{i}.parquet" for i in range(4)]
    assert sorted(os.listdir(out)) == summary["parts"]  # nothing else: no staging left
    counts = [pq.ParquetFile(out / p).metadata.num_rows for p in summary["parts"]]
    assert counts == [300, 300, 300, 100]
    assert summary["bytes"] == sum(os.path.getsize(out / p) for p in summary["parts"])
    table = pq.read_table(out)
    np.testing.assert_array_equal(table["row_id"].to_numpy(), np.arange(1000))


@pytest.mark.parametrize("dtype, arrow", [("float32", pa.float32()), ("float64", pa.float64())])
def test_columns_and_types(tmp_path, dtype, arrow):
    out = tmp_path / "blobs"
    generate_blobs(str(out), rows=50, features=5, centers=3, dtype=dtype)
    schema = pq.read_schema(out / "part-00000.parquet")
    assert schema.names == ["row_id", "x0", "x1", "x2", "x3", "x4", "label"]
    assert schema.field("row_id").type == pa.int64()
    assert schema.field("label").type == pa.int32()
    assert all(schema.field(f"x{j}").type == arrow for j in range(5))


def test_readable_by_pyarrow_and_pandas(tmp_path):
    out = tmp_path / "blobs"
    generate_blobs(str(out), rows=700, features=2, centers=3, rows_per_file=250)
    frame = pd.read_parquet(out)
    assert frame.shape == (700, 4)
    assert frame.dtypes.to_dict() == {"row_id": np.dtype("int64"), "x0": np.dtype("float32"),
                                      "x1": np.dtype("float32"), "label": np.dtype("int32")}
    assert sorted(frame["row_id"]) == list(range(700))
    assert pq.ParquetDataset(out).read().num_rows == 700


def test_values_are_blobs_around_the_drawn_centres(tmp_path):
    out = tmp_path / "blobs"
    std = [0.5, 1.0, 2.0]
    generate_blobs(str(out), rows=30_000, features=4, centers=3, seed=7, cluster_std=std,
                   center_box=(-50, 50), dtype="float64")
    centres = blob_centers(centers=3, features=4, seed=7, center_box=(-50, 50))
    assert centres.shape == (3, 4) and np.all((centres >= -50) & (centres < 50))
    frame = pd.read_parquet(out)
    x = frame[[f"x{j}" for j in range(4)]].to_numpy()
    labels = frame["label"].to_numpy()
    counts = np.bincount(labels, minlength=3)
    assert counts.sum() == 30_000 and counts.min() > 9_000  # labels drawn uniformly
    for c in range(3):
        rows = x[labels == c]
        np.testing.assert_allclose(rows.mean(axis=0), centres[c], atol=0.1)
        np.testing.assert_allclose(rows.std(axis=0), std[c], rtol=0.05)
    # every row is nearest to its own centre (the blobs are far apart at this box size)
    d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    assert (d2.argmin(1) == labels).mean() > 0.99


def test_same_seed_same_bytes_different_seed_different_data(tmp_path):
    kw = dict(rows=5000, features=3, centers=4, rows_per_file=2000)
    generate_blobs(str(tmp_path / "a"), seed=3, **kw)
    generate_blobs(str(tmp_path / "b"), seed=3, **kw)
    generate_blobs(str(tmp_path / "c"), seed=4, **kw)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    a, c = pq.read_table(tmp_path / "a"), pq.read_table(tmp_path / "c")
    assert not np.array_equal(a["x0"].to_numpy(), c["x0"].to_numpy())


def test_same_table_whatever_the_files_and_threads(tmp_path):
    """1 file vs many (file edges inside and on block edges) and 1 vs 2 threads: one table."""
    rows = 2 * BLOCK_ROWS + 123
    kw = dict(rows=rows, features=2, centers=5, seed=11)
    with dask.config.set(scheduler="threads", num_workers=1):
        generate_blobs(str(tmp_path / "one"), rows_per_file=rows, **kw)
    with dask.config.set(scheduler="threads", num_workers=2):
        generate_blobs(str(tmp_path / "many"), rows_per_file=1000, **kw)
        generate_blobs(str(tmp_path / "blocks"), rows_per_file=BLOCK_ROWS, **kw)
    with dask.config.set(scheduler="sync"):
        generate_blobs(str(tmp_path / "sync"), rows_per_file=1000, **kw)
    reference = pq.read_table(tmp_path / "one")
    assert len(parts(tmp_path / "one")) == 1 and len(parts(tmp_path / "many")) == 17
    for name in ("many", "blocks", "sync"):
        assert pq.read_table(tmp_path / name).equals(reference), name
    assert file_bytes(tmp_path / "many") == file_bytes(tmp_path / "sync")


def test_a_smaller_dataset_is_a_prefix_of_a_larger_one(tmp_path):
    generate_blobs(str(tmp_path / "small"), rows=500, features=2, centers=3)
    generate_blobs(str(tmp_path / "large"), rows=20_000, features=2, centers=3)
    small, large = pq.read_table(tmp_path / "small"), pq.read_table(tmp_path / "large")
    assert large.slice(0, 500).equals(small)


def test_distributed_client_same_bytes_and_task_prefix(tmp_path, client):
    """With a current client (two worker processes) the tasks run there, named for the
    dashboard, and write the same bytes as the local threaded scheduler."""
    from dask.utils import key_split
    from distributed import get_task_stream

    kw = dict(rows=3000, features=3, centers=2, seed=5, rows_per_file=700)
    with get_task_stream(client) as stream:
        summary = generate_blobs(str(tmp_path / "dist"), **kw)
    assert summary["files"] == 5
    assert {key_split(t["key"]) for t in stream.data} == {"dkmeans-generate"}
    assert len({t["worker"] for t in stream.data}) >= 1
    with dask.config.set(scheduler="threads"):
        generate_blobs(str(tmp_path / "local"), **kw)
    assert file_bytes(tmp_path / "dist") == file_bytes(tmp_path / "local")


@pytest.mark.parametrize("kwargs, culprit", [
    (dict(rows=0), "'rows'"),
    (dict(rows=1.5), "'rows'"),
    (dict(features=0), "'features'"),
    (dict(centers=0), "'centers'"),
    (dict(centers=True), "'centers'"),
    (dict(seed=-1), "'seed'"),
    (dict(rows_per_file=0), "'rows_per_file'"),
    (dict(dtype="int32"), "'dtype'"),
    (dict(dtype="nonsense"), "'dtype'"),
    (dict(cluster_std=0.0), "'cluster_std'"),
    (dict(cluster_std=[1.0, 2.0]), "'cluster_std'"),
    (dict(cluster_std="wide"), "'cluster_std'"),
    (dict(center_box=(5, 5)), "'center_box'"),
    (dict(center_box=(0, float("inf"))), "'center_box'"),
    (dict(center_box=3), "'center_box'"),
])
def test_bad_parameters_are_named_and_nothing_is_written(tmp_path, kwargs, culprit):
    params = dict(rows=10, features=2, centers=3) | kwargs
    with pytest.raises(UserInputError, match=f"The {culprit} parameter of generate_blobs"):
        generate_blobs(str(tmp_path / "out"), **params)
    assert not (tmp_path / "out").exists()


def test_docstring_examples():
    import doctest

    import dkmeans.generate.blobs
    import dkmeans.generate.digits
    import dkmeans.generate.staging

    # testmod only collects the examples of objects defined in the module itself, so each
    # module of the package is run; the re-exports in dkmeans.generate add none.
    attempted = failed = 0
    for module in (dkmeans.generate, dkmeans.generate.blobs, dkmeans.generate.digits,
                   dkmeans.generate.staging):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        attempted, failed = attempted + result.attempted, failed + result.failed
    assert attempted >= 3 and failed == 0
