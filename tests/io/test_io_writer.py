"""OutputWriter on local disk: layout, round trip, modes, stale parts, and failures injected
while staging and while publishing."""

import json
import os

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from dask.utils import key_split
from io_helpers import make_table, sorted_reference, write_hive

from dkmeans.errors import OutputExistsError, StorageError, UserInputError
from dkmeans.io import (
    OutputWriter,
    PublishError,
    is_published,
    read_labels,
    read_manifest,
    read_parquet_dataset,
)
from dkmeans.io import commit


@pytest.fixture
def dataset(tmp_path):
    base = tmp_path / "in"
    write_hive(make_table(600), base, rows_per_group=50)
    return read_parquet_dataset(str(base), id_columns=["customer_id", "grp"],
                                features=["recency", "monetary"], target_chunk_bytes=800)


def fake_labels(ds, k=4, shift=0):
    """Labels as the engine would return them: a Dask array with the dataset's chunks."""
    ids = ds.features[:, 1].astype(np.int64)  # 'monetary', an integer per row
    return ((ids + shift) % k).astype(np.int32)


def publish_run(ds, out, *, labels=None, distances=None, mode="overwrite", **kw):
    labels = fake_labels(ds) if labels is None else labels
    with OutputWriter(str(out), mode=mode, **kw) as w:
        parts = w.stage_labels(ds, labels, distances)
        w.stage_json("metrics.json", {"inertia": 1.0, "sizes": np.array([1, 2])})
        w.stage_model(np.ones((4, 2)), ds.feature_names, params={"n_clusters": 4})
        w.stage_bytes("report.html", b"<html></html>")
        manifest = w.publish(input_fingerprint=ds.fingerprint, config_hash="cfg-1")
    return parts, manifest


def visible_files(out):
    """Files a reader could see: everything but the _staging folder."""
    found = set()
    for root, _, files in os.walk(out):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), out).replace(os.sep, "/")
            if not rel.startswith("_staging/"):
                found.add(rel)
    return found


def test_round_trip_every_row_once_with_its_ids_and_label(dataset, tmp_path):
    out = tmp_path / "out"
    labels = fake_labels(dataset)
    dist = dataset.features[:, 0] / 100
    parts, manifest = publish_run(dataset, out, labels=labels, distances=dist)

    assert len(parts) == dataset.n_chunks > 1
    assert [p.rows for p in parts] == [c.n_rows for c in dataset.chunks]
    assert visible_files(out) == {p.path for p in parts} | {
        "metrics.json", "model/centroids.parquet", "model/model.json", "report.html", "_SUCCESS"}
    assert not (out / "_staging").exists()
    assert manifest["total_rows"] == dataset.n_rows
    assert manifest["input_fingerprint"] == dataset.fingerprint
    assert manifest["config_hash"] == "cfg-1" and manifest["dkmeans_version"]
    assert json.loads((out / "_SUCCESS").read_text()) == manifest == read_manifest(str(out))

    got = read_labels(str(out))
    ref = sorted_reference(dataset.url, ["customer_id", "grp", "monetary"])
    assert got.column_names == ["customer_id", "grp", "cluster", "distance"]
    assert got.schema.field("cluster").type == pa.int32()
    assert got.schema.field("distance").type == pa.float32()
    assert got.column("customer_id").to_pylist() == ref.column("customer_id").to_pylist()
    assert sorted(got.column("customer_id").to_pylist()) == sorted(set(
        make_table(600).column("customer_id").to_pylist()))  # every row exactly once
    np.testing.assert_array_equal(got.column("cluster").to_numpy(), labels.compute())
    np.testing.assert_allclose(got.column("distance").to_numpy(), dist.compute(), rtol=1e-6)


def test_output_is_readable_by_pyarrow_and_pandas(dataset, tmp_path):
    out = tmp_path / "out"
    publish_run(dataset, out)
    table = pads.dataset(str(out / "labels"), format="parquet").to_table()
    assert table.num_rows == dataset.n_rows
    df = pd.read_parquet(out / "labels")
    assert len(df) == dataset.n_rows and str(df["cluster"].dtype) in ("int32", "Int32")
    centroids = pd.read_parquet(out / "model" / "centroids.parquet")
    assert list(centroids.columns) == dataset.feature_names and len(centroids) == 4
    assert json.loads((out / "metrics.json").read_text())["sizes"] == [1, 2]


def test_skipped_rows_get_null_labels_and_distances(dataset, tmp_path):
    labels = fake_labels(dataset, k=3) - 1  # -1, 0, 1: a third of the rows skipped
    publish_run(dataset, tmp_path / "out", labels=labels,
                distances=da.ones(dataset.n_rows, chunks=50, dtype=np.float32))  # other chunks
    got = read_labels(str(tmp_path / "out"))
    skipped = labels.compute() < 0
    assert got.column("cluster").null_count == skipped.sum() > 0
    assert np.array_equal(got.column("cluster").is_null().to_numpy(zero_copy_only=False), skipped)
    assert got.column("distance").null_count == skipped.sum()


def test_write_tasks_are_named_and_labels_may_be_numpy(dataset, tmp_path):
    from dask.callbacks import Callback

    seen = []

    with Callback(posttask=lambda key, *a: seen.append(key_split(key))):
        with OutputWriter(str(tmp_path / "out"), mode="error") as w:
            w.stage_labels(dataset, np.zeros(dataset.n_rows, np.int32))
            w.publish()
    assert "dkmeans-write-labels" in seen and "dkmeans-read-parquet" not in seen
    assert read_labels(str(tmp_path / "out")).column_names == ["customer_id", "grp", "cluster"]


def test_mode_error_refuses_a_published_output_and_overwrite_replaces_it(dataset, tmp_path):
    out = tmp_path / "out"
    publish_run(dataset, out, mode="error")
    with pytest.raises(OutputExistsError, match="already holds a published"):
        OutputWriter(str(out), mode="error")
    _, manifest = publish_run(dataset, out, labels=fake_labels(dataset, shift=1), mode="overwrite")
    assert read_manifest(str(out))["run_id"] == manifest["run_id"]
    np.testing.assert_array_equal(read_labels(str(out)).column("cluster").to_numpy(),
                                  fake_labels(dataset, shift=1).compute())
    with pytest.raises(UserInputError, match="mode"):
        OutputWriter(str(out), mode="append")
    (tmp_path / "spark").mkdir()
    (tmp_path / "spark" / "_SUCCESS").write_bytes(b"")
    with pytest.raises(OutputExistsError, match="not written by dkmeans"):
        OutputWriter(str(tmp_path / "spark"))


def test_a_rerun_with_fewer_chunks_removes_stale_parts(tmp_path):
    base = tmp_path / "in"
    write_hive(make_table(600), base, rows_per_group=50)
    feats = ["recency", "monetary"]
    many = read_parquet_dataset(str(base), features=feats, target_chunk_bytes=400)
    few = read_parquet_dataset(str(base), features=feats, target_chunk_bytes=10**6)
    out = tmp_path / "out"
    publish_run(many, out)
    (out / "labels" / "part-99999.parquet").write_bytes(b"left by a crashed run")
    (out / "notes.txt").write_text("the user's own file")
    parts, manifest = publish_run(few, out)
    assert few.n_chunks < many.n_chunks
    assert sorted(os.listdir(out / "labels")) == sorted(p.path.split("/")[1] for p in parts)
    assert (out / "notes.txt").exists()  # not dkmeans's: left alone
    assert read_labels(str(out)).num_rows == few.n_rows


def failing_labels(ds, bad_chunk):
    """Labels whose block ``bad_chunk`` raises when computed."""
    def block(x, block_info=None):
        if block_info[0]["chunk-location"][0] == bad_chunk:
            raise RuntimeError("injected failure in a label chunk")
        return np.zeros(x.shape[0], np.int32)

    return ds.features[:, 0].map_blocks(block, dtype=np.int32)


def test_failure_while_staging_keeps_the_previous_output(dataset, tmp_path):
    out = tmp_path / "out"
    publish_run(dataset, out)
    before = {f: (out / f).read_bytes() for f in visible_files(out)}
    with pytest.raises(RuntimeError, match="injected"):
        with OutputWriter(str(out), mode="overwrite") as w:
            w.stage_json("metrics.json", {"new": True})
            w.stage_labels(dataset, failing_labels(dataset, bad_chunk=2))
    assert {f: (out / f).read_bytes() for f in visible_files(out)} == before
    assert read_labels(str(out)).num_rows == dataset.n_rows
    assert not (out / "_staging").exists()


def test_failure_while_staging_a_fresh_output_leaves_nothing(dataset, tmp_path):
    out = tmp_path / "fresh"
    w = OutputWriter(str(out), mode="error")
    with pytest.raises(RuntimeError, match="injected"):
        w.stage_labels(dataset, failing_labels(dataset, bad_chunk=0))
    assert visible_files(out) == set() and not is_published(str(out))
    with pytest.raises(StorageError, match="discarded"):
        w.publish()


def test_failure_in_the_middle_of_publishing_restores_the_previous_output(
        dataset, tmp_path, monkeypatch):
    out = tmp_path / "out"
    publish_run(dataset, out, labels=fake_labels(dataset, shift=0))
    before = {f: (out / f).read_bytes() for f in visible_files(out)}
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        # Fail once old files are aside and some new parts are in place.
        if calls["n"] == len(before) + 3:
            raise OSError("injected failure while publishing")
        return real(src, dst)

    monkeypatch.setattr(commit, "_replace", flaky)
    with pytest.raises(PublishError, match="previous output was restored") as err:
        publish_run(dataset, out, labels=fake_labels(dataset, shift=1))
    assert err.value.restored
    assert {f: (out / f).read_bytes() for f in visible_files(out)} == before
    np.testing.assert_array_equal(read_labels(str(out)).column("cluster").to_numpy(),
                                  fake_labels(dataset, shift=0).compute())
    assert not (out / "_staging").exists()


def test_publishing_fails_and_rollback_fails_then_no_success_is_left(dataset, tmp_path,
                                                                     monkeypatch):
    out = tmp_path / "out"
    publish_run(dataset, out)
    real = os.replace
    calls = {"n": 0}

    def broken(src, dst):
        calls["n"] += 1
        if calls["n"] > 2:  # old _SUCCESS and one file moved aside, then storage "goes away"
            raise OSError("injected: disk gone")
        return real(src, dst)

    monkeypatch.setattr(commit, "_replace", broken)
    with pytest.raises(PublishError, match="must not be trusted") as err:
        publish_run(dataset, out)
    assert not err.value.restored
    assert not (out / "_SUCCESS").exists() and not is_published(str(out))
    with pytest.raises(StorageError, match="not a published dkmeans output"):
        read_labels(str(out))
    # What was moved aside is kept for a person to recover.
    assert any("previous" in r for r, _, f in os.walk(out / "_staging") if f)


def test_context_manager_discards_when_not_published(dataset, tmp_path):
    out = tmp_path / "out"
    with OutputWriter(str(out)) as w:
        w.stage_labels(dataset, fake_labels(dataset))
    assert visible_files(out) == set() and not (out / "_staging").exists()


def test_staged_paths_are_checked(tmp_path):
    w = OutputWriter(str(tmp_path / "out"))
    for bad in ["/abs.json", "../up.json", "_SUCCESS", "a/.hidden", "", "a//b"]:
        with pytest.raises(UserInputError, match="relative"):
            w.stage_bytes(bad, b"x")
    w.discard()


def test_labels_must_match_the_dataset(dataset, tmp_path):
    with OutputWriter(str(tmp_path / "out")) as w:
        with pytest.raises(UserInputError, match=r"shape \(%d,\)" % dataset.n_rows):
            w.stage_labels(dataset, np.zeros(3, np.int32))
        with pytest.raises(UserInputError, match="integers"):
            w.stage_labels(dataset, np.zeros(dataset.n_rows))


def test_rows_of_a_published_part_are_checked_on_read(dataset, tmp_path):
    out = tmp_path / "out"
    publish_run(dataset, out)
    pq.write_table(pa.table({"cluster": pa.array([1], pa.int32())}),
                   out / "labels" / "part-00000.parquet")
    with pytest.raises(StorageError, match="part-00000.*1 rows.*manifest"):
        read_labels(str(out))


def test_writing_on_the_threaded_scheduler(dataset, tmp_path):
    with dask.config.set(scheduler="threads"):
        publish_run(dataset, tmp_path / "out")
    assert read_labels(str(tmp_path / "out")).num_rows == dataset.n_rows


def test_no_straggler_writes_into_staging_after_a_failure(dataset, tmp_path, monkeypatch):
    import time

    from dkmeans.io.chunk_read import IdSource

    real_read = IdSource.read

    def slow_read(self):  # write tasks of other chunks are still running when chunk 0 fails
        time.sleep(0.4)
        return real_read(self)

    def block(x, block_info=None):
        if block_info[0]["chunk-location"][0] == 0:
            time.sleep(0.1)
            raise RuntimeError("injected failure in a label chunk")
        return np.zeros(x.shape[0], np.int32)

    monkeypatch.setattr(IdSource, "read", slow_read)
    out = tmp_path / "out"
    labels = dataset.features[:, 0].map_blocks(block, dtype=np.int32)
    with dask.config.set(scheduler="threads", num_workers=2):
        with pytest.raises(RuntimeError, match="injected"):
            with OutputWriter(str(out)) as w:
                w.stage_labels(dataset, labels)
    time.sleep(0.6)
    assert not (out / "_staging").exists() and visible_files(out) == set()


def test_the_write_pass_reads_each_chunk_once(dataset, tmp_path):
    from dask.callbacks import Callback

    reads = []

    def pretask(key, dsk, state):
        if key_split(key).startswith("dkmeans-read-parquet"):
            reads.append(key)

    labels = fake_labels(dataset)
    distances = dataset.features[:, 0] * 2
    with Callback(pretask=pretask):
        with OutputWriter(str(tmp_path / "out")) as w:
            w.stage_labels(dataset, labels, distances)
            w.publish()
    assert len(reads) == dataset.n_chunks
