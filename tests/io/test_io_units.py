"""Small pure pieces of the storage layer: listing rules, chunk planning, filters, secrets."""

import pickle

import pyarrow as pa
import pytest

from dkmeans.errors import StorageError, UserInputError
from dkmeans.io.chunk_read import normalize_filters
from dkmeans.io.chunks import group_row_groups
from dkmeans.io.listing import hive_partitions, is_ignored
from dkmeans.io.manifest import dumps, to_jsonable
from dkmeans.io.schema import partition_types, typed_partition_values
from dkmeans.io.secrets import check_no_secrets, secret_values
from dkmeans.io.storage import StorageHandle


@pytest.mark.parametrize("rel, ignored", [
    ("part-0.parquet", False),
    ("year=2024/month=01/part-0.snappy.parquet", False),
    ("_SUCCESS", True),
    ("_committed_4711", True),
    ("_started_4711", True),
    ("year=2024/.part-0.parquet.crc", True),
    ("year=2024/part-0.parquet.crc", True),
    ("_temporary/0/part-0.parquet", True),
    (".hidden/part-0.parquet", True),
    ("year=2024/_staging/part-0.parquet", True),
])
def test_bookkeeping_files_are_ignored(rel, ignored):
    assert is_ignored(rel) is ignored


def test_hive_partitions_parse_keys_values_and_nulls():
    rel = "year=2024/city=New%20York/zone=__HIVE_DEFAULT_PARTITION__/plain/part-0.parquet"
    assert hive_partitions(rel) == (("year", "2024"), ("city", "New York"), ("zone", None))
    types = partition_types([hive_partitions(rel), (("year", "2025"), ("city", "Paris"))])
    assert types == {"year": pa.int64(), "city": pa.string(), "zone": pa.string()}
    assert typed_partition_values((("year", "2024"), ("zone", None)), types) == (
        ("year", 2024), ("zone", None))


def test_row_groups_are_grouped_up_to_the_target_bytes():
    # 8 bytes a row, target 160 bytes = 20 rows; empty row groups are skipped.
    assert group_row_groups([10, 0, 10, 30, 5, 5], row_bytes=8, target_bytes=160) == [
        ((0, 2), 20), ((3,), 30), ((4, 5), 10)]
    assert group_row_groups([0, 0], row_bytes=8, target_bytes=160) == []
    assert group_row_groups([], row_bytes=8, target_bytes=160) == []
    with pytest.raises(UserInputError, match="target_chunk_bytes"):
        group_row_groups([1], row_bytes=8, target_bytes=0)


def test_filters_accept_both_dnf_forms_and_list_their_columns():
    dnf, cols = normalize_filters([("a", ">", 1), ("b", "in", [1, 2])])
    assert cols == ("a", "b") and len(dnf) == 1
    dnf, cols = normalize_filters([[("a", ">", 1)], [("c", "=", "x")]])
    assert cols == ("a", "c") and len(dnf) == 2
    dnf, cols = normalize_filters([["a", ">", 1], ["b", "in", [1, 2]]])  # as YAML gives them
    assert cols == ("a", "b") and dnf == ((("a", ">", 1), ("b", "in", (1, 2))),)
    assert normalize_filters(None) == (None, ())
    for bad in ([], "a > 1", [("a", ">")], [("a", "~~", 1)]):
        with pytest.raises(UserInputError, match="filter"):
            normalize_filters(bad)


def test_storage_handle_never_shows_its_options():
    h = StorageHandle("s3://bucket/x", {"key": "K" * 12, "secret": "S" * 12})
    for text in (repr(h), str(h), repr([h]), repr({"h": h})):
        assert "KKKK" not in text and "SSSS" not in text
    clone = pickle.loads(pickle.dumps(h))
    assert clone == h and clone.storage_options == h.storage_options


def test_secret_values_come_from_options_and_environment():
    opts = {"key": "AKIA0123456789", "secret": "s3cr3t-value-long", "client_kwargs": {
        "endpoint_url": "http://127.0.0.1:9000", "aws_session_token": "tok-0123456789"},
        "anon": False, "token": "short"}
    env = {"AWS_SECRET_ACCESS_KEY": "env-secret-0123", "HOME": "/root-not-a-secret",
           "GPG_KEY": "ABCDEF0123456789"}
    found = secret_values(opts, environ=env)
    assert set(found) == {"storage_options.key", "storage_options.secret",
                          "storage_options.client_kwargs.aws_session_token",
                          "$AWS_SECRET_ACCESS_KEY"}
    check_no_secrets(b'{"endpoint": "http://127.0.0.1:9000"}', "x.json", found)
    with pytest.raises(StorageError) as err:
        check_no_secrets(b'{"oops": "s3cr3t-value-long"}', "x.json", found)
    assert "storage_options.secret" in str(err.value) and "s3cr3t" not in str(err.value)


def test_json_conversion_handles_numpy_and_non_finite():
    import numpy as np

    obj = {"a": np.float32(1.5), "b": np.arange(3), "c": float("nan"), "d": (np.int64(2),)}
    assert to_jsonable(obj) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [2]}
    assert b"NaN" not in dumps(obj)
