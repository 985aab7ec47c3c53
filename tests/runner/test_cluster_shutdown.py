"""The job's own LocalCluster shuts down without logging its workers' heartbeats as errors.

A worker that closes aborts its in-flight heartbeat, and distributed logs that with a
traceback. These tests hold every heartbeat on the scheduler for five seconds, and close the
cluster once each worker has one in flight.
"""

import logging
import time

import pytest
from distributed import Client, LocalCluster

from dkmeans.cluster import connect
from dkmeans.config import ClusterConfig
from dkmeans.shutdown_logs import HEARTBEAT_FAILURE, ClosingHeartbeatFilter

pytestmark = pytest.mark.filterwarnings("ignore")


def _hold_heartbeats(dask_scheduler):
    import asyncio

    answer = dask_scheduler.handlers["heartbeat_worker"]
    dask_scheduler.dkmeans_held_heartbeats = 0

    async def held(*args, **kwargs):
        dask_scheduler.dkmeans_held_heartbeats += 1
        await asyncio.sleep(5.0)
        return answer(*args, **kwargs)

    dask_scheduler.handlers["heartbeat_worker"] = held


def _held_heartbeats(dask_scheduler):
    return dask_scheduler.dkmeans_held_heartbeats


def _close_during_a_heartbeat(client):
    """Return once every worker has a heartbeat held on the scheduler."""
    client.run_on_scheduler(_hold_heartbeats)
    n_workers = len(client.scheduler_info()["workers"])
    deadline = time.monotonic() + 30
    # a worker's first heartbeats come 1 s apart, later ones 0.5 s
    while client.run_on_scheduler(_held_heartbeats) < n_workers:
        assert time.monotonic() < deadline, "no heartbeat reached the scheduler in 30 s"
        time.sleep(0.05)


def test_closing_workers_abort_a_heartbeat_with_a_traceback_by_default(capfd):
    """The race the job's cluster guards against does happen with distributed's defaults."""
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        _close_during_a_heartbeat(client)
    assert HEARTBEAT_FAILURE in capfd.readouterr().err


def test_job_cluster_closes_without_heartbeat_tracebacks(capfd):
    cfg = ClusterConfig(n_workers=1, dashboard_address=None)
    with connect(cfg) as client:
        assert client.submit(sum, [1, 2]).result() == 3
        _close_during_a_heartbeat(client)
    err = capfd.readouterr().err
    assert HEARTBEAT_FAILURE not in err
    assert "Traceback" not in err


class _Worker:
    def __init__(self, status):
        self.status = status


def _record(message):
    return logging.LogRecord("distributed.worker", logging.ERROR, __file__, 1, message,
                             None, None)


def test_heartbeat_failure_of_a_running_worker_is_kept():
    from distributed.core import Status

    log_filter = ClosingHeartbeatFilter()
    running = _Worker(Status.running)
    log_filter.watch(running)
    assert log_filter.filter(_record(HEARTBEAT_FAILURE + "."))
    running.status = Status.closing
    assert not log_filter.filter(_record(HEARTBEAT_FAILURE + "."))
    # other errors of a closing worker are still logged
    assert log_filter.filter(_record("Unexpected exception during heartbeat. Closing worker."))
