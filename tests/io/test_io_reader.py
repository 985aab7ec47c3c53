"""read_parquet_dataset on local folders as pyarrow, Spark and pandas write them."""

from decimal import Decimal

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dask.utils import key_split
from io_helpers import FEATURES, add_noise_files, make_table, sorted_reference, write_hive

from dkmeans.errors import InputDataError, StorageError, UserInputError
from dkmeans.io import read_parquet_dataset
from dkmeans.io.chunk_read import ChunkReader


@pytest.fixture
def hive_dir(tmp_path):
    base = tmp_path / "customers"
    write_hive(make_table(1000), base, rows_per_group=100)
    add_noise_files(base)
    return base


def test_reads_a_hive_folder_with_known_chunks_and_without_reading_data(hive_dir, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("building the dataset must not read row data")

    monkeypatch.setattr(ChunkReader, "read_table", no_data)
    ds = read_parquet_dataset(str(hive_dir), id_columns=["customer_id"], target_chunk_bytes=2400)
    monkeypatch.undo()

    # Default features: the numeric columns but the id and the partition key; not the bool.
    assert ds.feature_names == FEATURES and ds.id_columns == ["customer_id"]
    assert len(ds.files) == 3  # noise files ignored
    # 100-row groups, 3 features * 4 bytes = 12 B/row: at most 200 rows a chunk.
    assert ds.features.chunks == (tuple(c.n_rows for c in ds.chunks), (3,))
    assert not any(np.isnan(ds.features.chunks[0]))
    assert max(ds.features.chunks[0]) == 200 and ds.n_rows == 1000
    assert [c.row_offset for c in ds.chunks] == list(np.cumsum([0, *ds.features.chunks[0][:-1]]))
    assert {key_split(k) for k in ds.features.__dask_graph__()} == {"dkmeans-read-parquet"}

    X = ds.features.compute(scheduler="sync")
    ref = sorted_reference(hive_dir, ["customer_id", *FEATURES])
    expected = np.column_stack([ref.column(c).to_numpy().astype(np.float32) for c in FEATURES])
    assert X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, expected)
    ids = pa.concat_tables([ds.read_ids(i) for i in range(ds.n_chunks)])
    assert ids.column("customer_id").to_pylist() == ref.column("customer_id").to_pylist()
    assert "grp=0" in ds.source_of_chunk(0) and "row group" in ds.source_of_chunk(0)


def test_partition_keys_are_columns_and_float64_on_request(hive_dir):
    ds = read_parquet_dataset(str(hive_dir), features=["recency", "grp", "flag"],
                              id_columns=["customer_id", "grp"], dtype="float64")
    X = ds.features.compute(scheduler="sync")
    ref = sorted_reference(hive_dir, ["recency", "grp", "flag"])
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X[:, 0], ref.column("recency").to_numpy())
    np.testing.assert_array_equal(X[:, 1], ref.column("grp").to_numpy())
    np.testing.assert_array_equal(X[:, 2], ref.column("flag").to_numpy().astype(float))
    assert ds.read_ids(0).schema.field("grp").type == pa.int64()


def test_glob_and_single_file_urls(hive_dir):
    ds = read_parquet_dataset(str(hive_dir / "grp=*" / "*.parquet"))
    assert len(ds.files) == 3 and ds.n_rows == 1000
    assert "grp" not in ds.feature_names
    one = sorted((hive_dir / "grp=1").glob("*.parquet"))[0]
    ds = read_parquet_dataset(str(one), features=["monetary"])
    assert ds.n_rows == pq.read_metadata(one).num_rows and len(ds.files) == 1


def test_nullable_integer_decimal_and_null_values_become_nan(tmp_path):
    table = pa.table({
        "i": pa.array([1, None, 3], pa.int32()),
        "d": pa.array([Decimal("1.25"), Decimal("-2.50"), None], pa.decimal128(9, 2)),
        "f": pa.array([None, 2.0, np.nan]),
        "u": pa.array([7, 8, 9], pa.uint8()),
        "s": pa.array(["a", "b", "c"]),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    ds = read_parquet_dataset(str(tmp_path))
    assert ds.feature_names == ["i", "d", "f", "u"]
    X = ds.features.compute(scheduler="sync")
    expected = np.array([[1, 1.25, np.nan, 7], [np.nan, -2.5, 2, 8], [3, np.nan, np.nan, 9]],
                        dtype=np.float32)
    np.testing.assert_array_equal(X, expected)


def test_pandas_nullable_and_index_columns(tmp_path):
    df = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [0.5, 1.5, 2.5]},
                      index=pd.Index([10, 20, 30], name=None))
    df.to_parquet(tmp_path / "p.parquet")  # stores the index as __index_level_0__
    ds = read_parquet_dataset(str(tmp_path / "p.parquet"))
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.features.compute(scheduler="sync")[:, 0], [1, np.nan, 3])


def test_empty_files_and_zero_row_groups(tmp_path):
    schema = pa.schema([("id", pa.int64()), ("x", pa.float64())])
    pq.write_table(schema.empty_table(), tmp_path / "a-empty.parquet")
    (tmp_path / "b-zero-bytes.parquet").write_bytes(b"")
    with pq.ParquetWriter(tmp_path / "c-groups.parquet", schema) as w:
        for n in (5, 0, 3):  # an empty row group between two others
            w.write_table(pa.table({"id": np.arange(n), "x": np.arange(n) * 1.0}, schema=schema))
    assert pq.read_metadata(tmp_path / "c-groups.parquet").num_row_groups == 3
    pq.write_table(pa.table({"id": [100], "x": [1.0]}), tmp_path / "d-one.parquet")

    ds = read_parquet_dataset(str(tmp_path), id_columns=["id"])
    assert len(ds.files) == 4  # every file accounted for
    assert ds.n_rows == 9 and all(c.n_rows > 0 for c in ds.chunks)
    assert [c.row_groups for c in ds.chunks] == [(0, 2), (0,)]
    X = ds.features.compute(scheduler="sync")
    np.testing.assert_array_equal(X[:, 0], [0, 1, 2, 3, 4, 0, 1, 2, 1])
    ids = pa.concat_tables([ds.read_ids(i) for i in range(ds.n_chunks)])
    assert ids.column("id").to_pylist() == [0, 1, 2, 3, 4, 0, 1, 2, 100]


def test_dataset_of_only_empty_files_has_no_chunks(tmp_path):
    pq.write_table(pa.table({"x": pa.array([], pa.float64())}), tmp_path / "e.parquet")
    ds = read_parquet_dataset(str(tmp_path))
    assert ds.n_rows == 0 and ds.chunks == [] and ds.features.shape == (0, 1)


def test_filters_on_partition_keys_prune_files_and_on_columns_count_rows(hive_dir):
    ds = read_parquet_dataset(str(hive_dir), features=["recency"], filters=[("grp", "=", 1)])
    assert len(ds.files) == 1 and "grp=1" in ds.files[0].path
    ref = sorted_reference(hive_dir, ["recency", "grp", "monetary"])
    assert ds.n_rows == sum(1 for g in ref.column("grp").to_pylist() if g == 1)

    ds = read_parquet_dataset(str(hive_dir), features=["recency"], id_columns=["monetary"],
                              filters=[("monetary", "<", 500)])
    keep = ref.filter(pa.compute.less(ref.column("monetary"), 500))
    assert ds.n_rows == keep.num_rows and ds.features.chunks[0] == tuple(c.n_rows for c in ds.chunks)
    X = ds.features.compute(scheduler="sync")
    np.testing.assert_array_equal(X[:, 0], keep.column("recency").to_numpy().astype(np.float32))
    ids = pa.concat_tables([ds.read_ids(i) for i in range(ds.n_chunks)])
    assert ids.column("monetary").to_pylist() == keep.column("monetary").to_pylist()


def test_missing_feature_names_it_and_lists_the_columns(hive_dir):
    with pytest.raises(InputDataError) as err:
        read_parquet_dataset(str(hive_dir), features=["recency", "tenure"])
    msg = str(err.value)
    assert "'tenure'" in msg and "recency" in msg and "monetary" in msg and ".parquet" in msg


def test_missing_id_column_and_reserved_name(hive_dir):
    with pytest.raises(InputDataError, match="'cust_id'.*available columns"):
        read_parquet_dataset(str(hive_dir), id_columns=["cust_id"])
    t = make_table(10).append_column("cluster", pa.array(np.zeros(10)))
    pq.write_table(t, hive_dir.parent / "c.parquet")
    with pytest.raises(InputDataError, match="'cluster'"):
        read_parquet_dataset(str(hive_dir.parent / "c.parquet"), id_columns=["cluster"])


def test_non_numeric_feature_names_column_type_and_file(hive_dir):
    with pytest.raises(InputDataError) as err:
        read_parquet_dataset(str(hive_dir), features=["recency", "region"])
    msg = str(err.value)
    assert "'region'" in msg and "string" in msg and "part-0.parquet" in msg


def test_schema_drift_names_the_file(tmp_path):
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": [1.0, 2.0]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": [1.0], "y": ["oops"]}), tmp_path / "b.parquet")
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "c.parquet")
    with pytest.raises(InputDataError, match=r"'y'.*b\.parquet.*string"):
        read_parquet_dataset(str(tmp_path))
    (tmp_path / "b.parquet").unlink()
    with pytest.raises(InputDataError, match=r"'y' is missing from .*c\.parquet"):
        read_parquet_dataset(str(tmp_path))


def test_no_data_files_not_parquet_and_bad_parameters(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        read_parquet_dataset(str(tmp_path / "nope"))
    (tmp_path / "_SUCCESS").write_bytes(b"")
    with pytest.raises(InputDataError, match="no data file"):
        read_parquet_dataset(str(tmp_path))
    (tmp_path / "notes.txt").write_text("hello, not parquet")
    with pytest.raises(InputDataError, match=r"notes\.txt is not a readable Parquet"):
        read_parquet_dataset(str(tmp_path))
    for kwargs, word in [({"dtype": "int32"}, "dtype"), ({"target_chunk_bytes": 0}, "target"),
                         ({"features": "x"}, "features"), ({"features": []}, "features")]:
        with pytest.raises(UserInputError, match=word):
            read_parquet_dataset(str(tmp_path), **kwargs)


def test_a_file_changed_after_planning_is_reported(tmp_path):
    pq.write_table(pa.table({"x": np.arange(10.0)}), tmp_path / "a.parquet")
    ds = read_parquet_dataset(str(tmp_path))
    pq.write_table(pa.table({"x": np.arange(4.0)}), tmp_path / "a.parquet")
    with pytest.raises(StorageError, match=r"a\.parquet.*4 rows.*10"):
        ds.features.compute(scheduler="sync")


def test_fingerprint_follows_the_files(tmp_path):
    pq.write_table(pa.table({"x": np.arange(10.0)}), tmp_path / "a.parquet")
    fp1 = read_parquet_dataset(str(tmp_path)).fingerprint
    assert read_parquet_dataset(str(tmp_path)).fingerprint == fp1
    pq.write_table(pa.table({"x": np.arange(11.0)}), tmp_path / "b.parquet")
    assert read_parquet_dataset(str(tmp_path)).fingerprint != fp1


def test_reading_on_the_threaded_scheduler_matches(hive_dir):
    ds = read_parquet_dataset(str(hive_dir), target_chunk_bytes=1200)
    # Without id_columns the id is numeric, hence a feature too.
    assert ds.feature_names == ["customer_id", *FEATURES]
    with dask.config.set(scheduler="threads"):
        total = float(ds.features[:, 1].sum().compute())
    ref = sorted_reference(hive_dir, ["recency"])
    assert total == pytest.approx(float(np.sum(ref.column("recency").to_numpy().astype(np.float32))),
                                  rel=1e-5)
