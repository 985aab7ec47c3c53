"""Writing generated data: nothing half-written visible, overwrite rules, S3, secrets."""

from __future__ import annotations

import logging
import os

import dask
import pyarrow.parquet as pq
import pytest
from generate_helpers import BUCKET, S3_KEY, S3_SECRET

import dkmeans.generate.staging as staging
from dkmeans.errors import OutputExistsError, StorageError
from dkmeans.generate import generate_blobs

KW = dict(rows=1000, features=2, centers=3, rows_per_file=250)


def snapshot(folder) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its bytes."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, folder)] = open(path, "rb").read()
    return out


def visible(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith(("_", ".")))


@pytest.fixture
def failing_part(monkeypatch):
    """Make the task writing part 2 write half its bytes, then fail."""
    real = staging._write_bytes

    def write(handle, path, data):
        if path.endswith("part-00002.parquet"):
            real(handle, path, data[: len(data) // 2])
            raise OSError("injected failure while writing part 2")
        real(handle, path, data)

    monkeypatch.setattr(staging, "_write_bytes", write)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failed_task_leaves_nothing_behind(tmp_path, failing_part, threads):
    out = tmp_path / "blobs"
    with dask.config.set(scheduler="threads", num_workers=threads):
        with pytest.raises(OSError, match="injected failure"):
            generate_blobs(str(out), **KW)
    assert not out.exists() or snapshot(out) == {}


def test_a_failed_overwrite_keeps_the_old_dataset(tmp_path, monkeypatch):
    out = tmp_path / "blobs"
    generate_blobs(str(out), seed=1, **KW)
    before = snapshot(out)
    real = staging._write_bytes

    def write(handle, path, data):
        if path.endswith("part-00001.parquet"):
            raise OSError("injected failure")
        real(handle, path, data)

    monkeypatch.setattr(staging, "_write_bytes", write)
    with pytest.raises(OSError, match="injected failure"):
        generate_blobs(str(out), seed=2, overwrite=True, **KW)
    assert snapshot(out) == before


@pytest.mark.parametrize("failing_call", [1, 2], ids=["moving-old-aside", "moving-new-in"])
def test_a_failed_publish_puts_the_old_dataset_back(tmp_path, monkeypatch, failing_call):
    out = tmp_path / "blobs"
    generate_blobs(str(out), seed=1, **KW)
    before = snapshot(out)
    real = staging.move_many
    calls = []

    def move(handle, pairs):
        pairs = list(pairs)
        calls.append(pairs)
        if len(calls) == failing_call:  # move some of the files, then fail
            real(handle, pairs[:2])
            raise OSError("injected failure while publishing")
        real(handle, pairs)

    monkeypatch.setattr(staging, "move_many", move)
    with pytest.raises(StorageError, match="previous files were put back"):
        generate_blobs(str(out), seed=2, overwrite=True, **KW)
    assert snapshot(out) == before  # staging removed too


def test_parts_only_appear_once_all_are_written(tmp_path, monkeypatch):
    """While the tasks write, the target shows no part file at all."""
    out = tmp_path / "blobs"
    seen = []
    real = staging._write_bytes

    def write(handle, path, data):
        seen.append(visible(out))
        real(handle, path, data)

    monkeypatch.setattr(staging, "_write_bytes", write)
    generate_blobs(str(out), **KW)
    assert len(seen) == 4 and all(v == [] for v in seen)
    assert visible(out) == [f"part-0000{i}.parquet" for i in range(4)]


def test_a_non_empty_target_is_refused(tmp_path):
    out = tmp_path / "blobs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already holds 1 entry .*'notes.txt'.*overwrite"):
        generate_blobs(str(out), **KW)
    assert snapshot(out) == {"notes.txt": b"mine"}


def test_overwrite_refuses_files_it_did_not_write(tmp_path):
    out = tmp_path / "blobs"
    generate_blobs(str(out), **KW)
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(OutputExistsError, match="'notes.txt', which is not a part-NNNNN"):
        generate_blobs(str(out), overwrite=True, **KW)
    assert snapshot(out) == before


def test_a_file_as_target_is_refused(tmp_path):
    target = tmp_path / "file.parquet"
    target.write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="is a file"):
        generate_blobs(str(target), overwrite=True, **KW)
    assert target.read_bytes() == b"x"


def test_overwrite_replaces_and_drops_stale_parts(tmp_path):
    out = tmp_path / "blobs"
    generate_blobs(str(out), seed=1, **KW)  # 4 parts
    with pytest.raises(OutputExistsError):
        generate_blobs(str(out), seed=2, **KW)
    summary = generate_blobs(str(out), seed=2, overwrite=True, **(KW | {"rows_per_file": 600}))
    assert visible(out) == sorted(os.listdir(out)) == ["part-00000.parquet", "part-00001.parquet"]
    generate_blobs(str(tmp_path / "fresh"), seed=2, **(KW | {"rows_per_file": 600}))
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "fresh"))
    assert summary["rows"] == 1000


def test_leftover_staging_of_a_crashed_run_is_not_content_and_is_removed(tmp_path):
    out = tmp_path / "blobs"
    crashed = out / "_dkmeans-generate-0123456789abcdef"
    crashed.mkdir(parents=True)
    (crashed / "part-00000.parquet").write_bytes(b"half")
    generate_blobs(str(out), **KW)
    assert sorted(os.listdir(out)) == visible(out)


def test_storage_options_never_logged(tmp_path, caplog):
    secret = "do-not-log-this-token-7f3k"
    options = {"auto_mkdir": False, "token": secret}  # LocalFileSystem accepts and ignores token
    with caplog.at_level(logging.DEBUG):
        summary = generate_blobs(str(tmp_path / "blobs"), storage_options=options, **KW)
        with pytest.raises(OutputExistsError) as info:
            generate_blobs(str(tmp_path / "blobs"), storage_options=options, **KW)
    assert summary["rows"] == 1000
    for text in (caplog.text, str(summary), str(info.value)):
        assert secret not in text
    assert "Generated" in caplog.text


def test_s3_round_trip_with_a_distributed_client(s3_options, client):
    """s3:// through fsspec, written by worker processes: tasks open the store themselves."""
    import s3fs

    url = f"s3://{BUCKET}/blobs/"
    summary = generate_blobs(url, storage_options=s3_options, **KW)
    fs = s3fs.S3FileSystem(**s3_options)
    fs.invalidate_cache()
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.find(f"{BUCKET}/blobs"))
    assert names == summary["parts"] == [f"part-0000{i}.parquet" for i in range(4)]
    table = pq.read_table(f"{BUCKET}/blobs", filesystem=fs)
    assert table.num_rows == 1000
    with dask.config.set(scheduler="threads"):
        with pytest.raises(OutputExistsError):
            generate_blobs(url, storage_options=s3_options, **KW)
        generate_blobs(url, storage_options=s3_options, overwrite=True,
                       **(KW | {"rows_per_file": 600}))
    fs.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.find(f"{BUCKET}/blobs")) == [
        "part-00000.parquet", "part-00001.parquet"]
    assert pq.read_table(f"{BUCKET}/blobs", filesystem=fs).equals(table)
    assert S3_KEY not in str(summary) and S3_SECRET not in str(summary)
