"""A job pointed at a Dask cluster that is already up: a real ``dask scheduler`` and two
``dask worker`` processes on loopback, and ``configs/existing_cluster.yaml`` run against the
scheduler's address by ``dkmeans run``."""

import json
import os
import subprocess

import numpy as np
import pytest

from dkmeans.io import read_labels
from e2e_helpers import BIN, CONFIGS, stop_process, wait_for
from runner_helpers import run_cli, write_blobs


def _address(scheduler_file):
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):  # not written yet, or half written
        return None


@pytest.fixture
def dask_deployment(tmp_path):
    """``dask scheduler`` + two single-threaded ``dask worker`` processes; yields the address.

    Every process is stopped afterwards, whatever the test did."""
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = []

    def start(name, *args):
        log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        procs.append((subprocess.Popen([str(BIN / "dask"), *args], stdout=log,
                                       stderr=subprocess.STDOUT, cwd=tmp_path), log))

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
              "--scheduler-file", str(scheduler_file), "--no-dashboard")
        for i in range(2):
            start(f"worker-{i}", "worker", "--scheduler-file", str(scheduler_file),
                  "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                  "--memory-limit", "1GiB", "--name", f"w{i}")
        address = wait_for(lambda: _address(scheduler_file), timeout=60, interval=0.1,
                           what="the scheduler file")
        assert address.startswith("tcp://127.0.0.1:")
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            pids = client.run(os.getpid)
        assert sorted(pids.values()) == sorted(p.pid for p, _ in procs[1:])
        yield address, [p for p, _ in procs]
    finally:
        for proc, log in reversed(procs):  # workers first, then the scheduler
            stop_process(proc)
            log.close()
    assert all(proc.poll() is not None for proc, _ in procs)


def test_job_runs_on_an_existing_scheduler_and_its_workers(tmp_path, dask_deployment):
    address, procs = dask_deployment
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=8000, features=4, centers=8, files=4)
    env = {"DATA_URL": str(data), "OUTPUT_URL": str(out), "DASK_SCHEDULER_ADDRESS": address}

    result = run_cli("run", CONFIGS / "existing_cluster.yaml", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert f"connected to the Dask scheduler at {address} (2 workers)" in result.stderr
    assert "started a local Dask cluster" not in result.stderr
    labels = read_labels(str(out))
    np.testing.assert_array_equal(np.sort(labels["row_id"].to_numpy()), np.arange(8000))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"] == 8000 and metrics["n_clusters"] == 8
    # the deployment outlives the job: the job closed its client, not the cluster
    assert all(p.poll() is None for p in procs)
