"""``dkmeans run`` on S3 through a fault-injecting proxy in front of a moto server: the job
under test and its worker processes reach the bucket only through the proxy.

Transient throttling, server errors and dropped connections, on reads and on writes, are
retried by the S3 client with backoff: the job publishes what a run without faults
publishes. A fault that persists ends the job with exit code 1 and one message naming the
S3 URL and what failed; nothing is published and the previous output stays as it was. The
runs with persistent faults turn botocore's retries down to one attempt
(``config_kwargs.retries``) so that they fail in seconds.
"""

import json
import sys
import textwrap
from pathlib import Path

import pytest

from dkmeans.io import read_labels, read_manifest
from runner_helpers import run_cli, write_blobs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from s3_fault_proxy import FaultProxy  # noqa: E402 - the proxy lives with the storage tests

# distinctive fake credentials: what the job prints is searched for them
KEY = "AKIADKMEANSFLTKEY00004"
SECRET = "dkmeans-fault-secret-Hj3k9pQ5"
BUCKET, ROWS = "lake", 3000
FAIL_FAST = "{mode: standard, total_max_attempts: 1}"
THREADS = "{n_workers: 1, threads_per_worker: 2, processes: false, dashboard_address: null}"
PROCESSES = "{n_workers: 2, threads_per_worker: 1, processes: true, dashboard_address: null}"


@pytest.fixture(scope="module")
def proxy(s3_endpoint):
    with FaultProxy(s3_endpoint) as p:
        yield p


@pytest.fixture(scope="module")
def bucket(s3_endpoint, tmp_path_factory):
    """The input at s3://lake/in/ (3 files) and, at s3://lake/clean/, what a job publishes
    from it without faults; tests write to outputs of their own."""
    import requests
    import s3fs

    # moto keeps its buckets in the process, whichever server made them: start clean
    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10)
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=s3_endpoint,
                           skip_instance_cache=True)
    fs.mkdir(BUCKET)
    tmp = tmp_path_factory.mktemp("s3-faults")
    write_blobs(tmp / "in", rows=ROWS, files=3)
    fs.put(str(tmp / "in") + "/", f"{BUCKET}/in/", recursive=True)
    clean = run_job(tmp, "clean", s3_endpoint)
    assert clean.returncode == 0, clean.stderr
    return fs


@pytest.fixture
def s3(bucket, proxy):
    """The bucket, with the proxy holding no rule."""
    import s3fs

    proxy.clear()
    bucket.invalidate_cache()
    yield bucket
    proxy.clear()
    s3fs.S3FileSystem.clear_instance_cache()


def run_job(tmp_path, out, endpoint, *, cluster=THREADS, k=4, input_retries=None,
            output_retries=None):
    """Run ``dkmeans run`` on s3://lake/in/, publishing to s3://lake/<out>/; ``*_retries``
    become ``config_kwargs.retries`` of the input's or the output's storage options."""
    def options(retries):
        extra = f", config_kwargs: {{retries: {retries}}}" if retries else ""
        return ('{key: "${AWS_ACCESS_KEY_ID}", secret: "${AWS_SECRET_ACCESS_KEY}", '
                f'endpoint_url: "{endpoint}"{extra}}}')

    config = tmp_path / f"{out}-{k}.yaml"
    config.write_text(textwrap.dedent(f"""\
        name: s3-faults
        input:
          url: s3://{BUCKET}/in/
          features: [x0, x1, x2, x3]
          id_columns: [row_id]
          storage_options: {options(input_retries)}
        model: {{n_clusters: {k}, random_state: 0}}
        cluster: {cluster}
        output:
          url: s3://{BUCKET}/{out}/
          mode: overwrite
          storage_options: {options(output_retries)}
        report: {{html: false}}
        """))
    return run_cli("run", config, cwd=tmp_path,
                   env={"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET})


def published(fs, out):
    """Every object of the output but ``_staging/``, with its bytes."""
    fs.invalidate_cache()
    return {p: fs.cat_file(p) for p in fs.find(f"{BUCKET}/{out}") if "/_staging/" not in p}


def assert_no_secret(result):
    for line in (result.stdout + result.stderr).splitlines():
        assert KEY not in line and SECRET not in line, line


def test_transient_faults_on_reads_and_writes_leave_the_same_result(tmp_path, s3, s3_endpoint,
                                                                    proxy):
    rules = [proxy.inject(fault, methods="GET", path=".parquet", times=1)  # footers and tasks
             for fault in ("slowdown", "internal-error", "slowdown", "drop", "truncate")]
    rules += [proxy.inject("drop", methods="PUT", path="/labels/part-", times=2),  # workers
              proxy.inject("drop-after", methods="PUT", path=f"/{BUCKET}/faulty/_SUCCESS",
                           copies=False, times=1),
              # the lock was created but its answer lost: the retry is refused (412), and
              # the lock must still count as this run's
              proxy.inject("drop-after", methods="PUT", path="_publish.lock", times=1),
              proxy.inject("drop", methods="POST", path="?delete", times=1)]
    # worker processes, not threads: they reach the proxy with the shipped options
    faulty = run_job(tmp_path, "faulty", proxy.url, cluster=PROCESSES)
    assert faulty.returncode == 0, faulty.stderr
    assert [r.hits for r in rules] == [1, 1, 1, 1, 1, 2, 1, 1, 1]

    opts = {"key": KEY, "secret": SECRET, "endpoint_url": s3_endpoint}
    got = read_labels(f"s3://{BUCKET}/faulty", opts)
    assert got.equals(read_labels(f"s3://{BUCKET}/clean", opts))
    assert sorted(got["row_id"].to_pylist()) == list(range(ROWS))
    metrics = [json.loads(s3.cat_file(f"{BUCKET}/{out}/metrics.json"))
               for out in ("clean", "faulty")]
    for key in ("inertia", "n_iter", "cluster_sizes", "rows"):
        assert metrics[0][key] == metrics[1][key], key
    manifests = [read_manifest(f"s3://{BUCKET}/{out}", opts) for out in ("clean", "faulty")]
    assert ([f for f in manifests[0]["files"] if f["path"].startswith("labels/")]
            == [f for f in manifests[1]["files"] if f["path"].startswith("labels/")])
    assert not [p for p in s3.find(f"{BUCKET}/faulty") if "/_staging/" in p]
    assert_no_secret(faulty)


def test_a_persistent_fault_while_publishing_fails_cleanly_keeping_the_previous_output(
        tmp_path, s3, s3_endpoint, proxy):
    # a published output, as the clean run left it (its manifest lists relative paths)
    s3.copy(f"{BUCKET}/clean/", f"{BUCKET}/out/", recursive=True)
    opts = {"key": KEY, "secret": SECRET, "endpoint_url": s3_endpoint}
    before, manifest = published(s3, "out"), read_manifest(f"s3://{BUCKET}/out", opts)
    assert manifest == read_manifest(f"s3://{BUCKET}/clean", opts)

    # every new _SUCCESS is throttled: the new files are in place when it fails
    rule = proxy.inject("slowdown", methods="PUT", path=f"/{BUCKET}/out/_SUCCESS", copies=False)
    result = run_job(tmp_path, "out", proxy.url, k=3, output_retries=FAIL_FAST)
    assert result.returncode == 1, result.stderr
    assert rule.hits >= 5
    assert (f"error: the job failed and nothing was published: Publishing s3://{BUCKET}/out/ "
            f"failed while writing s3://{BUCKET}/out/_SUCCESS") in result.stderr, result.stderr
    assert "reduce your request rate" in result.stderr
    assert "the previous output was restored" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    proxy.clear()
    assert published(s3, "out") == before
    assert read_manifest(f"s3://{BUCKET}/out", opts) == manifest
    assert read_labels(f"s3://{BUCKET}/out", opts).num_rows == ROWS
    assert_no_secret(result)


def test_a_persistent_read_fault_fails_naming_the_input(tmp_path, s3, proxy):
    rule = proxy.inject("slowdown", methods="GET", path=".parquet")
    result = run_job(tmp_path, "unread", proxy.url, input_retries=FAIL_FAST)
    assert result.returncode == 1, result.stderr
    assert rule.hits >= 5
    assert (f"error: the job failed and nothing was published: Reading the footer of "
            f"s3://{BUCKET}/in/part-0000") in result.stderr, result.stderr
    assert "reduce your request rate" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    proxy.clear()
    s3.invalidate_cache()
    assert not s3.find(f"{BUCKET}/unread")
    assert_no_secret(result)


@pytest.mark.parametrize("fault", ["slowdown", "drop"])
def test_a_store_failing_the_output_probe_is_a_storage_error_not_a_config_error(
        tmp_path, s3, proxy, fault):
    # the probe write that checks output.url before any work: a store that keeps failing it
    # (throttling, dropped connections) is a runtime failure, exit 1; only a refusal
    # (permissions, a missing bucket) is a mistake in the config, exit 2
    rule = proxy.inject(fault, methods="PUT", path="/_staging/probe-")
    result = run_job(tmp_path, "probed", proxy.url, output_retries=FAIL_FAST)
    assert result.returncode == 1, result.stderr
    assert rule.hits >= 1
    assert (f"error: the job failed and nothing was published: output.url: writing a probe "
            f"file under s3://{BUCKET}/probed/ failed") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    proxy.clear()
    s3.invalidate_cache()
    assert not s3.find(f"{BUCKET}/probed")
    assert_no_secret(result)
