"""A fit on a real multi-process LocalCluster, watched the way a user would: task prefixes and
spans on the scheduler, Dask events, Prometheus ``/metrics``, the ``/dkmeans`` page, and a
Dask performance report; and monitoring that only observes (same centres, bit for bit)."""

import json
import urllib.request

import dask.array as da
import fsspec
import numpy as np
import pytest
from monitor_helpers import FakeTTY, blobs

from dkmeans import KMeans
from dkmeans.monitor.events import DaskEventsObserver, phase_span
from dkmeans.monitor.hooks import ObserverGroup
from dkmeans.monitor.logs import LoggingObserver
from dkmeans.monitor.performance import write_performance_report
from dkmeans.monitor.progress import TerminalProgress
from dkmeans.monitor.scheduler_plugin import DkmeansSchedulerPlugin


K, MAX_ITER = 4, 40


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", memory_limit="1GiB") as cluster, \
            Client(cluster) as c:
        c.register_plugin(DkmeansSchedulerPlugin())
        yield c


@pytest.fixture(scope="module")
def X():
    data, _ = blobs(n=4000, seed=5)
    return da.from_array(data, chunks=1000)


def _get(client, path):
    port = client.scheduler_info()["services"]["dashboard"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read().decode()


def _fit(X, on_iteration=None):
    return KMeans(K, random_state=0, max_iter=MAX_ITER, tol=0).fit(X, on_iteration=on_iteration)


@pytest.fixture(scope="module")
def watched(client, X, tmp_path_factory):
    """One job run with every observer attached, the way the runner will drive it."""
    perf_url = "memory://dkmeans-test/out/performance-report.html"
    events = DaskEventsObserver(client)
    group = ObserverGroup([events, LoggingObserver(), TerminalProgress(FakeTTY())])
    group.on_job_start({"name": "watched", "run_id": "run-42",
                        "dashboard_link": client.dashboard_link, "config": {}})
    with write_performance_report(perf_url) as perf:
        group.on_phase_start("lloyd", total=MAX_ITER)
        with phase_span("lloyd", client):
            model = _fit(X, on_iteration=group.on_iteration)
        group.on_phase_end("lloyd", 1.5)
    group.on_job_end({"inertia": model.inertia_, "n_iter": model.n_iter_})
    return model, perf


def test_task_prefixes_and_span_on_the_scheduler(client, watched):
    prefixes = set(client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.task_prefixes)))
    assert {"dkmeans-lloyd-partials", "dkmeans-lloyd-combine",
            "dkmeans-moments-partials"} <= prefixes
    spans = client.run_on_scheduler(
        lambda dask_scheduler: [s.name for s in dask_scheduler.extensions["spans"].spans.values()])
    assert ("dkmeans-lloyd",) in spans


def test_events_tell_the_whole_job(client, watched):
    model, _ = watched
    msgs = [msg for _, msg in client.get_events("dkmeans") if msg.get("run_id") == "run-42"]
    kinds = [m["kind"] for m in msgs]
    assert kinds[:2] == ["job-start", "phase-start"] and kinds[-2:] == ["phase-end", "job-end"]
    iterations = [m for m in msgs if m["kind"] == "iteration"]
    assert [m["iteration"] for m in iterations] == [r.iteration for r in model.history_]
    assert [m["inertia"] for m in iterations] == [r.inertia for r in model.history_]
    assert msgs[0]["dashboard_link"] == client.dashboard_link
    assert msgs[-1]["status"] == "ok" and msgs[-1]["n_iter"] == model.n_iter_


def test_prometheus_metrics_on_the_scheduler(client, watched):
    model, _ = watched
    status, ctype, text = _get(client, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
             for line in text.splitlines() if line.startswith("dkmeans_")}

    def value(name, **extra):
        want = {"job_name": "watched", "run_id": "run-42", **extra}
        for key, val in lines.items():
            head, _, rest = key.partition("{")
            got = dict(part.split("=", 1) for part in rest.rstrip("}").split(",")) if rest else {}
            if head == name and {k: v.strip('"') for k, v in got.items()} == want:
                return val
        raise AssertionError(f"{name} {want} not in /metrics")
    assert value("dkmeans_iteration", phase="lloyd") == model.n_iter_
    assert value("dkmeans_iterations_expected", phase="lloyd") == MAX_ITER
    assert value("dkmeans_inertia") == pytest.approx(model.history_[-1].inertia)
    assert value("dkmeans_center_shift") == pytest.approx(model.history_[-1].center_shift)
    assert value("dkmeans_phase_info", phase="lloyd") == 1
    assert value("dkmeans_phase_seconds", phase="lloyd") == 1.5
    assert value("dkmeans_job_running") == 0
    assert value("dkmeans_empty_clusters_relocated_total") == 0
    assert "dask_scheduler_workers" in text  # Dask's own metrics are still served


def test_dkmeans_page_and_state(client, watched):
    model, _ = watched
    status, ctype, page = _get(client, "/dkmeans")
    assert status == 200 and ctype.startswith("text/html")
    assert 'http-equiv="refresh"' in page and "watched" in page and "<svg" in page
    assert "<script" not in page
    _, _, state = _get(client, "/dkmeans/state.json")
    job = next(j for j in json.loads(state) if j["run_id"] == "run-42")
    assert job["phase"] == "lloyd" and job["iteration"] == model.n_iter_
    assert len(job["curves"]["lloyd run 0"]) == model.n_iter_


def test_registering_twice_keeps_state(client, watched):
    client.register_plugin(DkmeansSchedulerPlugin())
    _, _, state = _get(client, "/dkmeans/state.json")
    assert any(j["run_id"] == "run-42" for j in json.loads(state))


def test_performance_report_lands_at_its_url(watched):
    _, perf = watched
    assert perf.written and perf.error is None
    with fsspec.open(perf.url, "r") as f:
        html = f.read()
    assert "Dask Performance Report" in html


def test_monitoring_only_observes(client, X, watched):
    watched_model, _ = watched
    plain = _fit(X)
    assert plain.cluster_centers_.tobytes() == watched_model.cluster_centers_.tobytes()
    assert plain.inertia_ == watched_model.inertia_ and plain.n_iter_ == watched_model.n_iter_
    np.testing.assert_array_equal(np.asarray(plain.labels_), np.asarray(watched_model.labels_))
