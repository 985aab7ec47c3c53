"""A job pointed at a Dask cluster that is already up: a real ``dask scheduler`` and two
``dask worker`` processes on loopback, and ``configs/existing_cluster.yaml`` run against the
scheduler's address by ``dkmeans run``; over TCP, and over TLS with certificates made here."""

import json
from pathlib import Path

import numpy as np
import pytest

from dask_deployment import Deployment, make_certificates
from dkmeans.io import read_labels
from e2e_helpers import CONFIGS, files_under
from runner_helpers import job_yaml, run_cli, write_blobs


def test_job_runs_on_an_existing_scheduler_and_its_workers(tmp_path, dask_deployment):
    deployment = dask_deployment()
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=8000, features=4, centers=8, files=4)
    env = {"DATA_URL": str(data), "OUTPUT_URL": str(out),
           "DASK_SCHEDULER_ADDRESS": deployment.address}

    result = run_cli("run", CONFIGS / "existing_cluster.yaml", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert (f"connected to the Dask scheduler at {deployment.address} (2 workers)"
            in result.stderr)
    assert "started a local Dask cluster" not in result.stderr
    labels = read_labels(str(out))
    np.testing.assert_array_equal(np.sort(labels["row_id"].to_numpy()), np.arange(8000))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"] == 8000 and metrics["n_clusters"] == 8
    # the deployment outlives the job: the job closed its client, not the cluster
    assert all(p.poll() is None for p in deployment.processes)


# ------------------------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="module")
def tls_deployment(tmp_path_factory):
    """A deployment whose scheduler listens on ``tls://``, with certificates of a new CA;
    shared by the TLS tests, which leave it as they found it."""
    folder = tmp_path_factory.mktemp("tls-deployment")
    deployment = Deployment(folder / "processes", tls=make_certificates(folder / "pki"))
    try:
        yield deployment.start()
    finally:
        deployment.stop()


def _cluster(address, certs=None):
    """The ``cluster`` section for ``address``, with ``certs`` as its ``tls``."""
    tls = ""
    if certs is not None:
        tls = ", tls: {" + ", ".join(f"{k}: '{v}'" for k, v in certs.items()) + "}"
    return f"{{address: '{address}', timeout: 10s{tls}}}"


def test_job_runs_on_a_tls_scheduler_with_the_certificates(tmp_path, tls_deployment):
    deployment = tls_deployment
    assert deployment.address.startswith("tls://127.0.0.1:")
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=4000, files=2)
    config = tmp_path / "job.yaml"
    config.write_text(job_yaml(data, out, cluster=_cluster(deployment.address, deployment.tls)))

    result = run_cli("run", config, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (f"connected to the Dask scheduler at {deployment.address} (2 workers)"
            in result.stderr)
    np.testing.assert_array_equal(read_labels(str(out))["row_id"].to_numpy(), np.arange(4000))
    # the key travels as a path, and is not read into anything the job writes
    key = Path(deployment.tls["key"]).read_text().splitlines()[1]
    assert all(key not in p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("client_side", ["plain-tcp", "another-ca", "no-certificates"])
def test_a_tls_scheduler_refuses_a_job_without_its_certificates(tmp_path, tls_deployment,
                                                                client_side):
    deployment = tls_deployment
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=1000, files=1)
    address = deployment.address
    cluster, code, words = {
        # the job was not told the scheduler speaks TLS: refused as it connects
        "plain-tcp": (_cluster(address.replace("tls://", "tcp://")), 1,
                      ["could not connect to the dask scheduler", "tcp://127.0.0.1:"]),
        # certificates the scheduler's CA did not sign: refused as it connects
        "another-ca": (_cluster(address, make_certificates(tmp_path / "other-pki",
                                                           ca_name="another-ca")), 1,
                       ["could not connect to the dask scheduler", address, "certificate"]),
        # a tls:// address with no certificates at all: a config mistake, before connecting
        "no-certificates": (_cluster(address), 2, ["cluster.tls", address]),
    }[client_side]
    config = tmp_path / "job.yaml"
    config.write_text(job_yaml(data, out, cluster=cluster))

    result = run_cli("run", config, cwd=tmp_path, timeout=60)

    assert result.returncode == code, result.stderr
    message = result.stderr.lower()
    assert all(w.lower() in message for w in words), result.stderr
    assert "traceback" not in message
    assert not out.exists() or files_under(out) == []  # nothing written at all
    assert all(p.poll() is None for p in deployment.processes)


def test_a_tls_address_alone_takes_the_certificates_from_dasks_config(tmp_path):
    import dask

    from dkmeans.cluster import client_security
    from dkmeans.config import ClusterConfig

    certs = make_certificates(tmp_path)
    cfg = ClusterConfig(address="tls://127.0.0.1:8786")
    with dask.config.set({"distributed.comm.tls.ca-file": certs["ca_file"],
                          "distributed.comm.tls.client.cert": certs["cert"],
                          "distributed.comm.tls.client.key": certs["key"]}):
        security = client_security(cfg)
    assert security.get_connection_args("client")["ssl_context"] is not None
