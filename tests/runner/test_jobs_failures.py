"""A job survives what a nightly run meets: a worker process dying part-way through the fit
or through the label write (the job goes on and gives the same labels), and the job's own
process killed part-way (nothing is published; the rerun resumes from its checkpoint and
publishes the same labels). Losing the scheduler fails the job clearly, publishing nothing;
the rerun on a new scheduler resumes.

The data are overlapping blobs clustered with ``tol: 0`` so the fits take many iterations.
"""

import json
import os
import re
import signal
import subprocess

import numpy as np
import pytest

from dkmeans.config import load_config
from dkmeans.generate import generate_blobs
from dkmeans.io import read_labels
from dkmeans.monitor.hooks import JobObserver
from dkmeans.runner import run_job
from e2e_helpers import (
    checkpoint_iteration,
    dkmeans_cli,
    files_under,
    label_parts,
    labels_by_row,
    pid_alive,
    read_label_files,
    wait_for,
)
from runner_helpers import job_yaml, run_cli, write_blobs
from worker_faults import DieWritingLabelPart


ROWS, MAX_ITER = 500_000, 25


def _slow_job(data, out, *, k, max_iter, **kwargs):
    """A fit job that converges only after many iterations (tol 0 on overlapping blobs)."""
    return job_yaml(data, out, **kwargs).replace(
        "model: {n_clusters: 4, random_state: 0}",
        f"model: {{n_clusters: {k}, random_state: 0, tol: 0.0, max_iter: {max_iter}}}")


# ------------------------------------------------------------------------------------------
# a worker process killed during the fit


class KillOneWorker(JobObserver):
    """Kills one worker process of the client's cluster when iteration ``at`` ends."""

    def __init__(self, client, at=2):
        self.client, self.at = client, at
        self.killed_pid, self.iterations_after = None, 0

    def on_iteration(self, record):
        if self.killed_pid is not None:
            self.iterations_after += 1
        elif record.iteration == self.at:
            pids = self.client.run(os.getpid)  # {worker address: pid}
            self.killed_pid = pids[sorted(pids)[0]]
            os.kill(self.killed_pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def process_cluster():
    """A LocalCluster of two worker processes (with nannies) owned by this module, as one of
    its workers is killed."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, memory_limit="1GiB",
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as client:
        yield client


def test_a_worker_killed_mid_fit_does_not_change_the_labels(tmp_path, process_cluster):
    client = process_cluster
    data = tmp_path / "data"
    write_blobs(data, rows=8000, features=4, centers=8, files=4, std=4.0)
    for name in ("calm", "killed"):
        (tmp_path / f"{name}.yaml").write_text(_slow_job(data, tmp_path / name, k=8,
                                                         max_iter=15))

    calm = run_job(load_config(tmp_path / "calm.yaml"), client=client)
    assert calm["n_iter"] >= 6, "the fit must run on well past the kill"

    killer = KillOneWorker(client, at=2)
    before = set(client.run(os.getpid).values())
    killed = run_job(load_config(tmp_path / "killed.yaml"), client=client, observers=[killer])

    assert killer.killed_pid in before and not pid_alive(killer.killed_pid)
    assert killer.iterations_after >= 3  # the fit went on after losing the worker
    assert killed["n_iter"] == calm["n_iter"]
    assert killed["inertia"] == calm["inertia"]
    assert read_labels(str(tmp_path / "killed")).equals(read_labels(str(tmp_path / "calm")))


# ------------------------------------------------------------------------------------------
# the job process itself killed during the fit


def test_a_killed_job_publishes_nothing_and_its_rerun_resumes(tmp_path, client):
    data, out = tmp_path / "data", tmp_path / "out"
    # half a million rows in 20 overlapping blobs: some 50 ms per iteration
    generate_blobs(str(data), rows=ROWS, features=4, centers=20, seed=1, cluster_std=3.0,
                   rows_per_file=125_000)
    config = tmp_path / "job.yaml"
    config.write_text(_slow_job(data, out, k=20, max_iter=MAX_ITER))

    log = tmp_path / "killed-job.log"  # a file, not a pipe nobody reads while it runs
    with open(log, "w") as sink:
        job = subprocess.Popen(dkmeans_cli("run", config), cwd=tmp_path, stdout=sink,
                               stderr=subprocess.STDOUT)
    killed_at = None
    try:
        wait_for(lambda: (checkpoint_iteration(out) or 0) >= 2 or job.poll() is not None,
                 timeout=120, what="a checkpoint of iteration 2")
        if job.poll() is None:
            killed_at = checkpoint_iteration(out)
            job.send_signal(signal.SIGKILL)
    finally:
        if job.poll() is None:
            job.kill()
        job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL, (
        f"the job ended ({job.returncode}) before it could be killed:\n"
        f"{log.read_text()[-3000:]}")
    assert killed_at is not None and 2 <= killed_at < MAX_ITER, killed_at

    # nothing published: no manifest, no labels; only the staging area with the checkpoint
    assert not (out / "_SUCCESS").exists()
    assert not (out / "labels").exists()
    assert all(f.startswith("_staging/") for f in files_under(out))
    resumable = checkpoint_iteration(out)
    assert resumable is not None and resumable >= killed_at

    rerun = run_cli("run", config, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = re.search(r"resuming from the checkpoint of iteration (\d+)", rerun.stderr)
    assert resumed, rerun.stderr[-3000:]
    assert int(resumed.group(1)) >= resumable, (resumed.group(0), resumable)
    assert (out / "_SUCCESS").is_file()
    assert not list(out.glob("_staging/checkpoint-*")), "the checkpoint outlived publishing"

    # the same labels as a run that was never interrupted (same config but the output)
    calm_out = tmp_path / "calm"
    calm_config = tmp_path / "calm.yaml"
    calm_config.write_text(_slow_job(data, calm_out, k=20, max_iter=MAX_ITER))
    calm = run_job(load_config(calm_config), client=client)
    assert calm["n_iter"] == MAX_ITER
    resumed_labels = read_labels(str(out))
    assert resumed_labels.num_rows == ROWS
    assert resumed_labels.equals(read_labels(str(calm_out)))
    np.testing.assert_array_equal(resumed_labels["row_id"].to_numpy(), np.arange(ROWS))


# ------------------------------------------------------------------------------------------
# a worker process killed while it writes a label part


def test_a_worker_killed_writing_labels_changes_nothing(tmp_path, dask_deployment):
    deployment = dask_deployment()
    data = tmp_path / "data"
    write_blobs(data, rows=8000, features=4, centers=8, files=4, std=4.0)
    for name in ("calm", "killed"):
        (tmp_path / f"{name}.yaml").write_text(job_yaml(data, tmp_path / name))
    marker = tmp_path / "killed-worker.pid"

    with deployment.client() as client:
        calm = run_job(load_config(tmp_path / "calm.yaml"), client=client)
        client.register_plugin(DieWritingLabelPart(marker))
        killed = run_job(load_config(tmp_path / "killed.yaml"), client=client)

    # one worker died half-way through a part; the job went on with the other
    pid, torn = marker.read_text().split("\n", 1)
    pid = int(pid)
    # the torn bytes went to a temporary name, never to the part's own
    assert "/labels/part-" in torn and not torn.endswith(".parquet"), torn
    dead = [w for w in deployment.workers if w.pid == pid]
    assert dead and dead[0].wait(timeout=30) == -signal.SIGKILL
    assert sum(w.poll() is None for w in deployment.workers) == 1
    out = tmp_path / "killed"
    assert killed["inertia"] == calm["inertia"]
    assert read_labels(str(out)).equals(read_labels(str(tmp_path / "calm")))
    # each part once, whole, under its own name; no torn, stray or staged file left
    manifest = json.loads((out / "_SUCCESS").read_text())
    listed = sorted(f["path"] for f in manifest["files"] if f["path"].startswith("labels/"))
    assert listed == [f"labels/part-{i:05d}.parquet" for i in range(4)]
    assert [f for f in files_under(out) if f.startswith(("labels/", "_staging/"))] == listed
    assert [p.name for p in label_parts(out)] == [p.rsplit("/", 1)[1] for p in listed]
    assert sorted(labels_by_row(read_label_files(out))) == list(range(8000))


# ------------------------------------------------------------------------------------------
# the scheduler killed during the fit

LOST_MAX_ITER = 40


def test_losing_the_scheduler_fails_clearly_and_the_rerun_resumes(tmp_path, dask_deployment):
    first = dask_deployment()
    data, out = tmp_path / "data", tmp_path / "out"
    # 16 centres on 8 overlapping blobs want some 70 iterations: the fit runs all 40
    write_blobs(data, rows=10_000, features=4, centers=8, files=4, std=4.0)
    config = tmp_path / "job.yaml"
    config.write_text(_slow_job(data, out, k=16, max_iter=LOST_MAX_ITER,
                                cluster="{address: '${DASK_SCHEDULER_ADDRESS}', timeout: 10s}"))

    log = tmp_path / "lost-scheduler.log"
    with open(log, "w") as sink:
        job = subprocess.Popen(dkmeans_cli("run", config), cwd=tmp_path, stdout=sink,
                               stderr=subprocess.STDOUT,
                               env=dict(os.environ, DASK_SCHEDULER_ADDRESS=first.address))
    try:
        wait_for(lambda: (checkpoint_iteration(out) or 0) >= 2 or job.poll() is not None,
                 timeout=120, what="a checkpoint of iteration 2")
        killed_at = checkpoint_iteration(out)
        first.kill_scheduler()
        job.wait(timeout=90)  # a guard against a hang, far above cluster.timeout
    finally:
        if job.poll() is None:
            job.kill()
            job.wait(timeout=30)
    text = log.read_text()
    assert job.returncode == 1, text[-3000:]
    assert killed_at is not None and 2 <= killed_at < LOST_MAX_ITER, killed_at
    # one clear line, no traceback (distributed's included)
    assert text.rstrip().splitlines()[-1].startswith(
        "error: the job failed and nothing was published: the Dask scheduler at "
        f"{first.address} was lost during the job; rerun"), text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert not (out / "_SUCCESS").exists() and not (out / "labels").exists()
    assert all(f.startswith("_staging/checkpoint-") for f in files_under(out))
    resumable = checkpoint_iteration(out)
    assert resumable is not None and resumable >= killed_at

    # a new scheduler, at a new address: the rerun resumes and gives the undisturbed labels
    second = dask_deployment()
    rerun = run_cli("run", config, cwd=tmp_path,
                    env={"DASK_SCHEDULER_ADDRESS": second.address})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = re.search(r"resuming from the checkpoint of iteration (\d+)", rerun.stderr)
    assert resumed and int(resumed.group(1)) >= resumable, rerun.stderr[-3000:]
    calm_config = tmp_path / "calm.yaml"
    calm_config.write_text(_slow_job(data, tmp_path / "calm", k=16, max_iter=LOST_MAX_ITER))
    with second.client() as client:
        calm = run_job(load_config(calm_config), client=client)
    assert calm["n_iter"] == LOST_MAX_ITER
    assert read_labels(str(out)).equals(read_labels(str(tmp_path / "calm")))
