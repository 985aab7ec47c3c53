"""The storage layer against a real S3 endpoint (moto server on 127.0.0.1): reading Hive folders,
round trips, failures injected while staging and while publishing, credentials never written,
and a LocalCluster whose worker processes read and write the bucket."""

import logging

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from io_helpers import (
    BUCKET,
    CENTERS,
    FEATURES,
    SECRETS,
    add_noise_files,
    make_table,
    sorted_reference,
    write_hive,
)

from dkmeans.errors import InputDataError
from dkmeans.io import (
    OutputWriter,
    PublishError,
    is_published,
    read_labels,
    read_manifest,
    read_model,
    read_parquet_dataset,
)


@pytest.fixture
def s3_input(tmp_path, s3fs_client):
    """A Hive-partitioned folder with Spark noise files, uploaded to s3://bucket/in/."""
    local = tmp_path / "in"
    write_hive(make_table(900, seed=1), local, rows_per_group=100)
    add_noise_files(local)
    s3fs_client.put(str(local) + "/", f"{BUCKET}/in/", recursive=True)
    return local, f"s3://{BUCKET}/in/"


def nearest(x, centers=CENTERS):
    """A stand-in for the engine's labels: nearest of two fixed centres."""
    d = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    return d.argmin(1).astype(np.int32)


def labels_of(ds):
    return ds.features.map_blocks(nearest, drop_axis=1, dtype=np.int32)


def objects(fs, prefix):
    """Every object under ``prefix`` (``_staging`` left out) and its bytes."""
    fs.invalidate_cache()
    return {p: fs.cat_file(p) for p in fs.find(prefix) if "/_staging/" not in p}


def run_job(ds, out, opts, *, labels=None, mode="overwrite"):
    with OutputWriter(out, storage_options=opts, mode=mode) as w:
        w.stage_labels(ds, labels_of(ds) if labels is None else labels,
                       ds.features[:, 0] / 10)
        w.stage_json("metrics.json", {"rows": ds.n_rows})
        w.stage_model(CENTERS, ds.feature_names, params={"n_clusters": 2, "endpoint": "x"})
        return w.publish(input_fingerprint=ds.fingerprint, config_hash="h")


def test_reads_a_hive_folder_on_s3(s3_input, s3_options):
    local, url = s3_input
    ds = read_parquet_dataset(url, id_columns=["customer_id"], storage_options=s3_options,
                              target_chunk_bytes=2400)
    assert ds.feature_names == FEATURES and len(ds.files) == 3
    assert ds.features.chunks[0] == tuple(c.n_rows for c in ds.chunks) and ds.n_rows == 900
    assert ds.chunks[0].url.startswith("s3://")
    ref = sorted_reference(local, ["customer_id", *FEATURES])
    X = ds.features.compute(scheduler="threads")
    np.testing.assert_array_equal(X[:, 2], ref.column("monetary").to_numpy().astype(np.float32))
    ids = pa.concat_tables([ds.read_ids(i) for i in range(ds.n_chunks)])
    assert ids.column("customer_id").to_pylist() == ref.column("customer_id").to_pylist()
    # A glob on S3, and a missing column naming an s3:// file.
    assert read_parquet_dataset(f"{url}grp=*/*.parquet", storage_options=s3_options).n_rows == 900
    with pytest.raises(InputDataError, match=r"'tenure'.*s3://"):
        read_parquet_dataset(url, features=["tenure"], storage_options=s3_options)


def test_round_trip_on_s3_and_readable_by_pandas(s3_input, s3_options, s3fs_client, caplog):
    caplog.set_level(logging.DEBUG, logger="dkmeans")
    _, url = s3_input
    ds = read_parquet_dataset(url, id_columns=["customer_id", "grp"], features=FEATURES,
                              storage_options=s3_options, target_chunk_bytes=2400)
    out = f"s3://{BUCKET}/out/"
    with dask.config.set(scheduler="threads"):
        manifest = run_job(ds, out, s3_options)
    assert is_published(out, s3_options) and manifest["total_rows"] == 900
    got = read_labels(out, s3_options)
    X = ds.features.compute()
    assert got.column_names == ["customer_id", "grp", "cluster", "distance"]
    assert sorted(got.column("customer_id").to_pylist()) == sorted(
        make_table(900, seed=1).column("customer_id").to_pylist())
    np.testing.assert_array_equal(got.column("cluster").to_numpy(), nearest(X))
    df = pd.read_parquet(f"{out}labels/", storage_options=s3_options)
    assert len(df) == 900 and set(df["cluster"]) == {0, 1}
    meta, centers = read_model(out, s3_options)
    np.testing.assert_array_equal(centers, CENTERS)
    # No staging left; credentials nowhere: not in files, logs or task keys.
    s3fs_client.invalidate_cache()
    assert not s3fs_client.exists(f"{BUCKET}/out/_staging")
    written = objects(s3fs_client, f"{BUCKET}/out")
    assert f"{BUCKET}/out/_SUCCESS" in written and len(written) == 3 + ds.n_chunks + 1
    for secret in SECRETS:
        assert all(secret.encode() not in data for data in written.values()), secret
        assert secret not in caplog.text
        assert all(secret not in str(k) for k in ds.features.__dask_graph__())
        assert secret not in repr(ds) + repr(ds.chunks) + repr(ds.id_source(0))


def test_writer_refuses_to_write_a_credential(s3_options, tmp_path):
    with OutputWriter(str(tmp_path / "out"), storage_options=s3_options) as w:
        with pytest.raises(Exception, match=r"storage_options\.secret") as err:
            w.stage_json("model/params.json", {"oops": s3_options["secret"]})
        assert s3_options["secret"] not in str(err.value)


def test_failure_while_staging_on_s3_keeps_the_previous_output(s3_input, s3_options,
                                                               s3fs_client):
    _, url = s3_input
    ds = read_parquet_dataset(url, id_columns=["customer_id"], storage_options=s3_options,
                              target_chunk_bytes=2400)
    out = f"s3://{BUCKET}/out"
    run_job(ds, out, s3_options)
    before = objects(s3fs_client, f"{BUCKET}/out")

    def bad(x, block_info=None):
        if block_info[0]["chunk-location"][0] == 1:
            raise RuntimeError("injected failure in a label chunk")
        return nearest(x)

    with pytest.raises(RuntimeError, match="injected"):
        run_job(ds, out, s3_options,
                labels=ds.features.map_blocks(bad, drop_axis=1, dtype=np.int32))
    assert objects(s3fs_client, f"{BUCKET}/out") == before
    s3fs_client.invalidate_cache()
    assert not s3fs_client.find(f"{BUCKET}/out/_staging")
    assert read_labels(out, s3_options).num_rows == ds.n_rows


def test_failure_mid_publish_on_s3_restores_the_previous_output(s3_input, s3_options,
                                                                s3fs_client, monkeypatch):
    import s3fs

    _, url = s3_input
    ds = read_parquet_dataset(url, id_columns=["customer_id"], storage_options=s3_options,
                              target_chunk_bytes=2400)
    out = f"s3://{BUCKET}/out"
    first = run_job(ds, out, s3_options)
    before = objects(s3fs_client, f"{BUCKET}/out")
    real = s3fs.S3FileSystem._cp_file
    calls = {"n": 0}

    async def flaky(self, path1, path2, **kwargs):
        calls["n"] += 1
        # _SUCCESS and every old file moved aside, then a few new files placed: fail.
        if calls["n"] == len(before) + 3:
            raise OSError("injected failure while publishing")
        return await real(self, path1, path2, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_cp_file", flaky)
    flipped = labels_of(ds) * 0 + 1
    with pytest.raises(PublishError, match="previous output was restored"):
        run_job(ds, out, s3_options, labels=flipped.astype(np.int32))
    monkeypatch.undo()
    assert calls["n"] >= len(before) + 3
    assert objects(s3fs_client, f"{BUCKET}/out") == before
    assert read_manifest(out, s3_options)["run_id"] == first["run_id"]
    np.testing.assert_array_equal(read_labels(out, s3_options).column("cluster").to_numpy(),
                                  nearest(ds.features.compute()))


def test_round_trip_on_a_local_cluster_with_worker_processes(s3_input, s3_options, s3fs_client,
                                                             client):
    """``client``: the suite's shared LocalCluster (2 single-threaded worker processes,
    tests/conftest.py); the workers reach the moto endpoint on 127.0.0.1 with the options
    shipped inside the tasks."""
    _, url = s3_input
    ds = read_parquet_dataset(url, id_columns=["customer_id"], features=FEATURES,
                              storage_options=s3_options, target_chunk_bytes=2400)
    out = f"s3://{BUCKET}/cluster-out"
    run_job(ds, out, s3_options)
    logs = str(client.get_worker_logs()) + str(client.get_scheduler_logs())
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert {"dkmeans-read-parquet", "dkmeans-write-labels"} <= set(prefixes), prefixes
    assert len(client.scheduler_info()["workers"]) == 2
    got = read_labels(out, s3_options)
    X = ds.features.compute(scheduler="threads")
    np.testing.assert_array_equal(got.column("cluster").to_numpy(), nearest(X))
    assert got.column("customer_id").to_pylist() == pa.concat_tables(
        [ds.read_ids(i) for i in range(ds.n_chunks)]).column("customer_id").to_pylist()
    for secret in SECRETS:
        assert secret not in logs
        assert all(secret.encode() not in d
                   for d in objects(s3fs_client, f"{BUCKET}/cluster-out").values())


def test_errors_on_s3_name_the_url_but_not_the_credentials(s3_options):
    from dkmeans.errors import StorageError

    errors = []
    for call in (
        lambda: read_parquet_dataset(f"s3://{BUCKET}/missing/", storage_options=s3_options),
        lambda: read_parquet_dataset("s3://no-such-bucket/x", storage_options=s3_options),
        lambda: read_manifest(f"s3://{BUCKET}/missing", s3_options),
        lambda: read_parquet_dataset(f"s3://{BUCKET}/x", storage_options={
            **s3_options, "not_an_option": s3_options["secret"]}),
    ):
        with pytest.raises((InputDataError, StorageError)) as err:
            call()
        errors.append(str(err.value))
    assert "missing" in errors[0] and "no-such-bucket" in errors[1]
    for secret in SECRETS:
        assert all(secret not in e for e in errors)


def _fail_on_block_1(x, block_info=None):
    if block_info[0]["chunk-location"][0] == 1:
        raise RuntimeError("injected failure in a label chunk")
    return nearest(x)


def test_failure_on_cluster_workers_leaves_no_part_and_no_staging(s3_input, s3_options,
                                                                  s3fs_client, client):
    _, url = s3_input
    ds = read_parquet_dataset(url, id_columns=["customer_id"], storage_options=s3_options,
                              target_chunk_bytes=2400)
    out = f"s3://{BUCKET}/cluster-fail"
    run_job(ds, out, s3_options)
    before = objects(s3fs_client, f"{BUCKET}/cluster-fail")
    labels = ds.features.map_blocks(_fail_on_block_1, drop_axis=1, dtype=np.int32)
    with pytest.raises(RuntimeError, match="injected"):
        run_job(ds, out, s3_options, labels=labels)
    # Every task had ended before the staging folder was removed: nothing reappears.
    s3fs_client.invalidate_cache()
    assert not s3fs_client.find(f"{BUCKET}/cluster-fail/_staging")
    assert objects(s3fs_client, f"{BUCKET}/cluster-fail") == before
