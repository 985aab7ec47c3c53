"""``configs/s3.yaml`` against a real S3 endpoint (moto in server mode on 127.0.0.1): the job
reads its input from a bucket and publishes its output there, with the credentials coming
from the environment through ``${VAR}`` in ``storage_options``; those values end up in no
object written and in no log line."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dkmeans.io import read_labels
from e2e_helpers import CONFIGS
from runner_helpers import run_cli

# distinctive fake credentials: every object and every log line is searched for them
KEY = "AKIADKMEANSJOBKEY00003"
SECRET = "dkmeans-job-secret-Rt5u8wK1"
BUCKET, RUN_DATE = "lake", "2026-11-22"
ROWS, NAN_ROWS = 4000, (17, 2222)


@pytest.fixture
def s3(s3_endpoint):
    """A filesystem on the freshly reset endpoint, holding one empty bucket."""
    import requests
    import s3fs

    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=s3_endpoint)
    fs.mkdir(BUCKET)
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()


def _customers(rng, start, n):
    """RFM features on very different scales (s3.yaml scales them), ids from ``start``."""
    segment = rng.integers(0, 4, n)
    table = pa.table({
        "customer_id": np.arange(start, start + n, dtype=np.int64),
        "recency": rng.normal(5.0 + 50.0 * segment, 3.0),
        "frequency": rng.poisson(2 + 6 * segment).astype(np.float64),
        "monetary": rng.gamma(2.0, 100.0, n) * (1 + segment),
    })
    frame = table.to_pandas()
    frame.loc[frame["customer_id"].isin(NAN_ROWS), "monetary"] = np.nan
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_s3_job_publishes_and_leaks_no_credentials(tmp_path, s3, s3_endpoint):
    rng = np.random.default_rng(0)
    prefix = f"{BUCKET}/customers/{RUN_DATE}"
    for i, start in enumerate(range(0, ROWS, ROWS // 2)):
        with s3.open(f"{prefix}/part-{i:05d}.parquet", "wb") as f:
            pq.write_table(_customers(rng, start, ROWS // 2), f)
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
           "S3_ENDPOINT": s3_endpoint, "S3_BUCKET": BUCKET, "RUN_DATE": RUN_DATE}

    # the config as shipped but for its cluster: threads in the job's process, not 4 x 2
    # worker processes, to spare the test machine
    result = run_cli("run", CONFIGS / "s3.yaml", "--set", "cluster.processes=false",
                     "--set", "cluster.n_workers=1", "--set", "cluster.dashboard_address=null",
                     cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    out = f"s3://{BUCKET}/segments/{RUN_DATE}/"
    options = {"key": KEY, "secret": SECRET, "endpoint_url": s3_endpoint}
    s3.invalidate_cache()
    assert s3.exists(f"{BUCKET}/segments/{RUN_DATE}/_SUCCESS")
    labels = read_labels(out, options).to_pandas()
    np.testing.assert_array_equal(np.sort(labels["customer_id"]), np.arange(ROWS))
    skipped = labels[labels["customer_id"].isin(NAN_ROWS)]
    assert skipped["cluster"].isna().all()  # s3.yaml: nan_policy: skip
    assert labels["cluster"].notna().sum() == ROWS - len(NAN_ROWS)
    metrics = json.loads(s3.cat(f"{BUCKET}/segments/{RUN_DATE}/metrics.json"))
    assert metrics["rows_skipped"] == len(NAN_ROWS) and metrics["n_clusters"] == 8
    written = s3.find(f"{BUCKET}/segments/")
    assert f"{BUCKET}/segments/{RUN_DATE}/report.html" in written
    assert not [p for p in written if "/_staging/" in p], written  # checkpoint cleared too

    # no credential in any object of the bucket, nor in anything the job printed
    objects = s3.find(BUCKET)
    assert len(objects) > len(written) >= 5
    for path in objects:
        content = s3.cat(path)
        for secret in (KEY, SECRET):
            assert secret.encode() not in content, (secret, path)
    assert "published s3://" in result.stderr
    for line in (result.stdout + result.stderr).splitlines():
        assert KEY not in line and SECRET not in line, line
