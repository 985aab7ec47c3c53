"""S3 faults between dkmeans and a real endpoint: a fault-injecting proxy (``s3_fault_proxy``)
in front of the moto server throttles (503 SlowDown), fails (500 InternalError) or drops the
connection of chosen requests, from the client and from LocalCluster worker processes.

Transient faults are retried by the S3 client with backoff (botocore's own retries, then
s3fs's): reads and writes succeed with the same result. Persistent ones end in a
:class:`~dkmeans.errors.StorageError` that names the URL, with the previous output untouched.
Tests of persistent faults turn botocore's retries down to one attempt (``FAIL_FAST``) so
that they fail in about two seconds (s3fs's five attempts) instead of forty.
"""

import threading

import numpy as np
import pytest
from io_helpers import BUCKET, CENTERS, FEATURES, SECRETS, make_table, write_hive
from s3_fault_proxy import FaultProxy

from dkmeans.errors import OutputExistsError, StorageError
from dkmeans.io import (
    OutputWriter,
    PublishError,
    read_labels,
    read_manifest,
    read_parquet_dataset,
)
from dkmeans.io.publish_lock import LOCK_NAME, publish_lock
from dkmeans.io.storage import StorageHandle

FAIL_FAST = {"config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 1}}}


@pytest.fixture(scope="module")
def proxy(s3_endpoint):
    with FaultProxy(s3_endpoint) as p:
        yield p


@pytest.fixture
def faults(proxy, s3_options):
    """The proxy without rules (before and after the test), in front of a reset endpoint."""
    proxy.clear()
    yield proxy
    proxy.clear()


def through(proxy, options, extra=None):
    """``options`` with the proxy as the endpoint (plus ``extra`` storage options)."""
    return {**options, "client_kwargs": {"endpoint_url": proxy.url}, **(extra or {})}


@pytest.fixture
def s3_input(tmp_path, s3fs_client):
    """Three files of three row groups of 100 rows (three Hive partitions), at
    s3://bucket/in/."""
    local = tmp_path / "in"
    write_hive(make_table(900, seed=1), local, rows_per_group=100)
    s3fs_client.put(str(local) + "/", f"{BUCKET}/in/", recursive=True)
    return f"s3://{BUCKET}/in/"


def open_input(url, options):
    """One chunk per file: three read tasks, three label parts."""
    return read_parquet_dataset(url, id_columns=["customer_id"], features=FEATURES,
                                storage_options=options, target_chunk_bytes=4000)


def nearest(x):
    return ((x[:, None, :] - CENTERS[None]) ** 2).sum(-1).argmin(1).astype(np.int32)


def write_output(ds, out, options, *, mode="overwrite"):
    """Stage labels (in Dask tasks), metrics and a model; publish; return the manifest."""
    with OutputWriter(out, storage_options=options, mode=mode) as w:
        w.stage_labels(ds, ds.features.map_blocks(nearest, drop_axis=1, dtype=np.int32),
                       ds.features[:, 0] / 10)
        w.stage_json("metrics.json", {"rows": ds.n_rows})
        w.stage_model(CENTERS, ds.feature_names, params={"n_clusters": 2})
        return w.publish(input_fingerprint=ds.fingerprint, config_hash="h")


def objects(fs, prefix):
    """Every object under ``prefix`` (``_staging`` left out) and its bytes."""
    fs.invalidate_cache()
    return {p: fs.cat_file(p) for p in fs.find(prefix) if "/_staging/" not in p}


def staged(fs, prefix):
    fs.invalidate_cache()
    return [p for p in fs.find(prefix) if "/_staging/" in p]


def test_exclusive_create_on_moto_refuses_an_existing_key(s3fs_client):
    """What the publish lock relies on: s3fs's ``"xb"`` sends ``If-None-Match: *`` and moto
    answers 412, which s3fs turns into FileExistsError."""
    path = f"{BUCKET}/x/{LOCK_NAME}"
    with s3fs_client.open(path, "xb") as f:
        f.write(b"first")
    with pytest.raises(FileExistsError):
        with s3fs_client.open(path, "xb") as f:
            f.write(b"second")
    assert s3fs_client.cat_file(path) == b"first"


# ------------------------------------------------------------------------------------------
# transient faults: retried, same result


def test_transient_read_faults_are_retried_on_the_client_and_on_workers(s3_input, s3_options,
                                                                       faults, client):
    """``client``: the suite's LocalCluster of two worker processes; they reach the proxy."""
    expected = open_input(s3_input, s3_options)
    opts = through(faults, s3_options)
    # footers, read by the client
    footer_rules = [faults.inject("slowdown", methods="GET", path=".parquet", times=1),
                    faults.inject("internal-error", methods="GET", path=".parquet", times=1)]
    ds = open_input(s3_input, opts)
    assert [r.hits for r in footer_rules] == [1, 1]
    assert ds.fingerprint == expected.fingerprint
    # row groups, read by the workers' tasks
    faults.clear()
    task_rules = [faults.inject(fault, methods="GET", path=".parquet", times=1)
                  for fault in ("truncate", "drop", "slowdown", "internal-error")]
    got = ds.features.compute()
    np.testing.assert_array_equal(got, expected.features.compute(scheduler="threads"))
    assert [r.hits for r in task_rules] == [1, 1, 1, 1]


def test_transient_write_faults_are_retried_and_the_output_is_identical(s3_input, s3_options,
                                                                       s3fs_client, faults,
                                                                       client):
    ds = open_input(s3_input, s3_options)
    write_output(ds, f"s3://{BUCKET}/clean", s3_options)
    rules = [
        faults.inject("drop", methods="PUT", path="/labels/part-", times=2),  # workers' parts
        faults.inject("drop-after", methods="PUT", path="/model/", times=1),
        faults.inject("slowdown", methods="PUT", path="/faulty/labels/", copies=True, times=2),
        faults.inject("drop-after", methods="PUT", path="/_SUCCESS", copies=False, times=1),
        faults.inject("drop", methods="POST", path="?delete", times=1),
    ]
    manifest = write_output(ds, f"s3://{BUCKET}/faulty", through(faults, s3_options))
    assert [r.hits for r in rules] == [2, 1, 2, 1, 1]

    clean = read_manifest(f"s3://{BUCKET}/clean", s3_options)
    assert read_manifest(f"s3://{BUCKET}/faulty", s3_options)["run_id"] == manifest["run_id"]
    assert manifest["files"] == clean["files"]
    assert read_labels(f"s3://{BUCKET}/faulty", s3_options).equals(
        read_labels(f"s3://{BUCKET}/clean", s3_options))
    faulty = objects(s3fs_client, f"{BUCKET}/faulty")
    for path, data in objects(s3fs_client, f"{BUCKET}/clean").items():
        if not path.endswith(("_SUCCESS", "model.json")):  # those hold run id and time
            assert faulty[path.replace("/clean/", "/faulty/")] == data, path
    assert not staged(s3fs_client, f"{BUCKET}/faulty")


def test_a_multipart_upload_survives_dropped_connections(s3_options, s3fs_client, faults):
    """A label part larger than the block size is a multipart upload: its create, part and
    complete requests are retried too, even when S3 did one and only the answer was lost."""
    import s3fs

    data = np.random.default_rng(0).bytes(11 * 2**20)
    rules = [faults.inject("drop", methods="POST", path="?uploads", times=1),
             faults.inject("drop", methods="PUT", path="partNumber=", times=1),
             faults.inject("drop-after", methods="PUT", path="partNumber=", times=1),
             faults.inject("drop-after", methods="POST", path="uploadId=", times=1)]
    fs = s3fs.S3FileSystem(**through(faults, s3_options), skip_instance_cache=True)
    with fs.open(f"{BUCKET}/big/part-00000.parquet", "wb", block_size=5 * 2**20) as f:
        f.write(data)
    assert [r.hits for r in rules] == [1, 1, 1, 1]
    assert s3fs_client.cat_file(f"{BUCKET}/big/part-00000.parquet") == data


# ------------------------------------------------------------------------------------------
# persistent faults: a StorageError naming the URL, nothing published, the previous output kept


def test_persistent_read_faults_fail_naming_the_input(s3_input, s3_options, faults, client):
    opts = through(faults, s3_options, FAIL_FAST)
    rule = faults.inject("drop", methods="GET", path="list-type=2")
    with pytest.raises(StorageError, match=f"Listing input '{s3_input}' failed") as err:
        open_input(s3_input, opts)
    assert rule.hits >= 5 and "ConnectionClosedError" in str(err.value)

    faults.clear()
    rule = faults.inject("slowdown", methods="GET", path=".parquet")
    with pytest.raises(StorageError, match=rf"footer of {s3_input}grp=\d/part-0.parquet") as err:
        open_input(s3_input, opts)
    assert rule.hits >= 5 and "reduce your request rate" in str(err.value)

    faults.clear()
    ds = open_input(s3_input, opts)
    rule = faults.inject("internal-error", methods="GET", path=".parquet")
    with pytest.raises(StorageError, match=rf"Reading {s3_input}grp=\d/part-0.parquet") as err:
        ds.features.compute()  # in the workers
    assert rule.hits >= 1 and "internal error" in str(err.value)
    for secret in SECRETS:
        assert secret not in str(err.value)


def test_persistent_fault_on_label_writes_keeps_the_previous_output(s3_input, s3_options,
                                                                     s3fs_client, faults,
                                                                     client):
    ds = open_input(s3_input, s3_options)
    out = f"s3://{BUCKET}/out"
    first = write_output(ds, out, s3_options)
    before = objects(s3fs_client, f"{BUCKET}/out")
    rule = faults.inject("drop", methods="PUT", path="/labels/part-")
    with pytest.raises(StorageError, match=rf"Writing {out}/_staging/\S+/labels/part-\d+"):
        write_output(ds, out, through(faults, s3_options, FAIL_FAST))
    assert rule.hits >= 5
    faults.clear()
    assert objects(s3fs_client, f"{BUCKET}/out") == before
    assert read_manifest(out, s3_options)["run_id"] == first["run_id"]
    assert not staged(s3fs_client, f"{BUCKET}/out")


def test_persistent_fault_while_publishing_restores_the_previous_output(s3_input, s3_options,
                                                                         s3fs_client, faults):
    """Every new ``_SUCCESS`` is throttled (the moves before it, and the rollback's moves,
    are server-side copies that still work): the publish fails after the new files were
    moved into place, and the rollback puts the previous output back."""
    ds = open_input(s3_input, s3_options)
    out = f"s3://{BUCKET}/out"
    first = write_output(ds, out, s3_options)
    before = objects(s3fs_client, f"{BUCKET}/out")
    rule = faults.inject("slowdown", methods="PUT", path="/out/_SUCCESS", copies=False)
    with pytest.raises(PublishError) as err:
        write_output(ds, out, through(faults, s3_options, FAIL_FAST))
    message = str(err.value)
    assert f"Publishing {out} failed while writing {out}/_SUCCESS" in message, message
    assert "reduce your request rate" in message and "previous output was restored" in message
    assert err.value.restored and rule.hits >= 5
    faults.clear()
    assert objects(s3fs_client, f"{BUCKET}/out") == before
    assert read_manifest(out, s3_options)["run_id"] == first["run_id"]
    assert read_labels(out, s3_options).num_rows == ds.n_rows
    assert not staged(s3fs_client, f"{BUCKET}/out")


# ------------------------------------------------------------------------------------------
# the publish lock on S3


def test_the_publish_lock_on_s3_admits_one_holder(s3_options, s3fs_client):
    handle = StorageHandle(f"s3://{BUCKET}/out", s3_options)
    with publish_lock(handle, "first"):
        assert s3fs_client.cat_file(f"{BUCKET}/out/{LOCK_NAME}") == b"first"
        with pytest.raises(StorageError, match="Another run is publishing"):
            with publish_lock(handle, "second", wait=0.3, poll=0.05):
                pass
    assert not s3fs_client.exists(f"{BUCKET}/out/{LOCK_NAME}")


def test_the_publish_lock_survives_a_lost_response(s3_options, s3fs_client, faults, caplog):
    """S3 created the lock but its answer was lost: the client retries the conditional PUT,
    S3 refuses it (412), and the lock is recognised as ours by its content."""
    handle = StorageHandle(f"s3://{BUCKET}/out", through(faults, s3_options))
    rule = faults.inject("drop-after", methods="PUT", path=LOCK_NAME, times=1)
    with publish_lock(handle, "run-1", wait=0.5):
        assert rule.hits == 1
        assert s3fs_client.cat_file(f"{BUCKET}/out/{LOCK_NAME}") == b"run-1"
    s3fs_client.invalidate_cache()
    assert not s3fs_client.exists(f"{BUCKET}/out/{LOCK_NAME}")
    assert "publish lock" not in caplog.text


def test_a_persistent_fault_on_the_publish_lock_fails_naming_it(s3_options, s3fs_client,
                                                               faults):
    handle = StorageHandle(f"s3://{BUCKET}/out", through(faults, s3_options, FAIL_FAST))
    faults.inject("internal-error", methods="PUT", path=LOCK_NAME)
    with pytest.raises(StorageError, match=f"Taking the publish lock s3://{BUCKET}/out/"
                                           f"{LOCK_NAME} failed: OSError"):
        with publish_lock(handle, "run-1"):
            pass


def test_two_writers_racing_to_publish_with_mode_error_leave_one_result(s3_input, s3_options,
                                                                       s3fs_client):
    """Both writers checked the empty output when they started and both staged their files;
    under the lock only one may publish (the S3 twin of the local-disk test in
    tests/hardening/test_concurrency.py)."""
    ds = open_input(s3_input, s3_options)
    out = f"s3://{BUCKET}/race"
    writers = [OutputWriter(out, storage_options=s3_options, mode="error") for _ in range(2)]
    for w, shift in zip(writers, (0, 1)):
        labels = (nearest(ds.features.compute(scheduler="threads")) + shift) % 2
        w.stage_labels(ds, labels)
        w.stage_json("metrics.json", {"run_id": w.run_id})
    results, ready = [None, None], threading.Barrier(2)

    def publish(i):
        ready.wait()
        try:
            results[i] = writers[i].publish()
        except Exception as exc:  # noqa: BLE001 - the test checks what each writer did
            results[i] = exc

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    won = [i for i in range(2) if isinstance(results[i], dict)]
    assert len(won) == 1, results
    lost = results[1 - won[0]]
    assert isinstance(lost, OutputExistsError) and out in str(lost), lost
    winner = writers[won[0]]
    assert read_manifest(out, s3_options)["run_id"] == winner.run_id
    metrics = s3fs_client.cat_file(f"{BUCKET}/race/metrics.json")
    assert winner.run_id.encode() in metrics
    labels = read_labels(out, s3_options).column("cluster").to_numpy()
    shift = won[0]
    np.testing.assert_array_equal(
        labels, (nearest(ds.features.compute(scheduler="threads")) + shift) % 2)
    assert not staged(s3fs_client, f"{BUCKET}/race")
    assert not s3fs_client.exists(f"{BUCKET}/race/{LOCK_NAME}")
