"""Dask events and the scheduler plugin's state, without a cluster: message shapes, failure
handling, bounded memory, the status page and the Prometheus collector."""

import io
import logging
import pickle

import numpy as np
from monitor_helpers import FakeTTY

from dkmeans.monitor.events import DaskEventsObserver, phase_span, summary_scalars
from dkmeans.monitor.logs import LoggingObserver
from dkmeans.monitor.progress import TerminalProgress
from dkmeans.monitor.scheduler_plugin import (
    DkmeansCollector,
    DkmeansSchedulerPlugin,
    monitor_page_url,
    render_status_page,
)
from dkmeans.monitor.standard import standard_observers
from dkmeans.results import IterationRecord


class RecordingClient:
    def __init__(self, fail=False):
        self.events, self.fail = [], fail

    def log_event(self, topic, msg):
        if self.fail:
            raise OSError("scheduler unreachable")
        self.events.append((topic, msg))


def _job(observer):
    observer.on_job_start({"name": "j", "run_id": "r1", "dashboard_link": None})
    observer.on_phase_start("lloyd", total=5)
    observer.on_iteration(IterationRecord("lloyd", 1, np.float64(9.0), 0.5, np.int64(1), 0.1))
    observer.on_iteration(IterationRecord("lloyd", 2, 7.0, 0.0, 0, 0.1))
    observer.on_phase_end("lloyd", 0.2)
    observer.on_job_end({"inertia": 7.0, "centers": np.zeros((2, 2)), "score": float("inf")})


def test_event_messages_are_flat_and_plain():
    client = RecordingClient()
    _job(DaskEventsObserver(client))
    assert {topic for topic, _ in client.events} == {"dkmeans"}
    msgs = [m for _, m in client.events]
    assert [m["kind"] for m in msgs] == ["job-start", "phase-start", "iteration", "iteration",
                                         "phase-end", "job-end"]
    assert all(m["run_id"] == "r1" and m["job"] == "j" for m in msgs)
    first = msgs[2]
    assert type(first["inertia"]) is float and type(first["n_empty"]) is int
    assert msgs[-1] == {**msgs[-1], "status": "ok", "error": None, "inertia": 7.0,
                        "score": "inf"}
    assert "centers" not in msgs[-1]
    assert summary_scalars({"a": np.int32(2), "b": [1]}) == {"a": 2}


def test_every_n_publishes_first_every_nth_and_last():
    client = RecordingClient()
    obs = DaskEventsObserver(client, every=4)
    obs.on_phase_start("minibatch")
    for step in range(1, 11):
        obs.on_iteration(IterationRecord("minibatch", step, 1.0, 0.1))
    obs.on_phase_end("minibatch", 1.0)
    steps = [m["iteration"] for _, m in client.events if m["kind"] == "iteration"]
    assert steps == [1, 4, 8, 10]


def test_publishing_failures_warn_once_and_never_raise(caplog):
    observer = DaskEventsObserver(RecordingClient(fail=True))
    with caplog.at_level(logging.WARNING, logger="dkmeans.monitor.events"):
        _job(observer)
    warnings = [r for r in caplog.records if "could not publish" in r.getMessage()]
    assert len(warnings) == 1


def test_phase_span_without_client_is_a_no_op():
    with phase_span("lloyd") as span_id:
        assert span_id is None


def test_plugin_state_follows_events_and_stays_bounded():
    plugin = DkmeansSchedulerPlugin(max_jobs=2, max_points=50)
    plugin = pickle.loads(pickle.dumps(plugin))  # as it travels to the scheduler
    client = RecordingClient()
    obs = DaskEventsObserver(client, run_id="a", name="first")
    obs.on_phase_start("minibatch", total=500)
    for step in range(1, 501):
        obs.on_iteration(IterationRecord("minibatch", step, 1000.0 / step, 0.1, step == 3, 0.01))
    for _, msg in client.events:
        plugin.log_event("dkmeans", msg)
    plugin.log_event("other-topic", {"kind": "iteration"})
    plugin.log_event("dkmeans", "not a dict")
    plugin.log_event("dkmeans", {"kind": "iteration", "run_id": "a", "iteration": "x"})
    (job,) = plugin.snapshot()
    assert job["name"] == "first" and job["iteration"] == 500 and job["total"] == 500
    assert job["empty_total"] == 1 and job["status"] == "running"
    curve = job["curves"]["minibatch run 0"]
    assert len(curve) <= 50 and curve[0] == (1, 1000.0) and curve[-1][0] == 500
    for run_id in ("b", "c"):
        plugin.update({"kind": "job-start", "run_id": run_id, "job": run_id})
    assert [j["run_id"] for j in plugin.snapshot()] == ["c", "b"]  # newest first, "a" dropped


def test_status_page_and_collector():
    plugin = DkmeansSchedulerPlugin()
    for msg in ({"kind": "job-start", "run_id": "r", "job": "<b>x</b>"},
                {"kind": "phase-start", "run_id": "r", "phase": "lloyd", "total": 10},
                {"kind": "iteration", "run_id": "r", "phase": "lloyd", "iteration": 1,
                 "inertia": 5.0, "center_shift": 0.1, "n_empty": 0, "seconds": 0.2, "run": 0},
                {"kind": "job-end", "run_id": "r", "status": "failed", "error": "boom"}):
        plugin.update(msg)
    page = render_status_page(plugin.snapshot())
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "boom" in page and "<svg" in page
    assert "No dkmeans job" in render_status_page([])
    collector = DkmeansCollector()
    collector.plugins.add(plugin)
    assert all(not fam.samples for fam in collector.collect())  # not on a scheduler: inactive

    class Scheduler:
        plugins = {"dkmeans": plugin}

    plugin.scheduler = Scheduler()
    fams = {fam.name: fam for fam in collector.collect()}
    assert fams["dkmeans_inertia"].samples[0].value == 5.0
    assert fams["dkmeans_job_running"].samples[0].value == 0.0


def test_monitor_page_url_and_standard_observers():
    assert monitor_page_url("http://h:8787/status") == "http://h:8787/dkmeans"
    assert monitor_page_url(None) is None and monitor_page_url("http://h/x") is None
    tty = standard_observers(stream=FakeTTY(), client=RecordingClient())
    assert [type(o) for o in tty.observers] == [TerminalProgress, DaskEventsObserver]
    plain = standard_observers(stream=io.StringIO())
    assert [type(o) for o in plain.observers] == [LoggingObserver]
