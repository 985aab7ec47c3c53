"""A scheduler plugin that follows dkmeans jobs: Prometheus metrics and a ``/dkmeans`` page.

Registered from the client, so it works on any running cluster, local or remote::

    from dkmeans.monitor.scheduler_plugin import DkmeansSchedulerPlugin
    client.register_plugin(DkmeansSchedulerPlugin())

It listens to the ``"dkmeans"`` Dask event topic (published by
:class:`dkmeans.monitor.events.DaskEventsObserver`) through the ``log_event`` plugin hook and
keeps each recent job's state: phase, iteration, inertia curve, start time. From that state
it serves, on the scheduler's existing HTTP server (the dashboard port):

- ``/metrics``: the scheduler's Prometheus endpoint gains ``dkmeans_*`` metrics (a custom
  collector in the scheduler process's ``prometheus_client.REGISTRY``; needs
  ``prometheus_client``, as Dask's own ``/metrics`` does), labelled ``job_name`` and
  ``run_id`` (not ``job``, which Prometheus itself sets on every scraped series);
- ``/dkmeans``: a small self-refreshing page with each job's phase, progress and inertia
  curve (inline SVG, no script);
- ``/dkmeans/state.json``: the same state as JSON.

The plugin is idempotent (registering it twice keeps the first, and its state), holds at most
``max_jobs`` jobs and ``max_points`` curve points per job and restart, and never raises into
the scheduler.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import weakref

from distributed.diagnostics.plugin import SchedulerPlugin

from dkmeans.monitor.events import TOPIC
from dkmeans.monitor.status_page import render_status_page

logger = logging.getLogger(__name__)

#: The name the plugin is registered under on the scheduler.
PLUGIN_NAME = "dkmeans"


class DkmeansSchedulerPlugin(SchedulerPlugin):
    """Follow dkmeans jobs from their Dask events; serve metrics and a status page.

    Parameters
    ----------
    max_jobs : int, default 20
        Jobs remembered (the oldest is forgotten first).
    max_points : int, default 2000
        Inertia-curve points kept per job and restart; longer curves are thinned, keeping
        the first and the latest points.
    """

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, *, max_jobs=20, max_points=2000):
        self.max_jobs = int(max_jobs)
        self.max_points = int(max_points)
        self.scheduler = None
        self.jobs = collections.OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self):  # sent to the scheduler pickled: no lock, no scheduler
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state["scheduler"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- SchedulerPlugin hooks ----------------------------------------------------------------
    def start(self, scheduler):
        self.scheduler = scheduler
        try:
            _install_routes(scheduler)
        except Exception:  # noqa: BLE001 - the page is optional, the scheduler is not
            logger.warning("dkmeans: could not add the /dkmeans page", exc_info=True)
        _register_collector(self)

    async def close(self):
        _unregister_collector(self)

    def log_event(self, topic, msg):
        if topic == TOPIC and isinstance(msg, dict):
            try:
                self.update(msg)
            except Exception:  # noqa: BLE001
                logger.info("dkmeans: ignored malformed event %r", msg, exc_info=True)

    # -- state --------------------------------------------------------------------------------
    def is_active(self):
        """Whether the plugin is still registered on its scheduler."""
        sched = self.scheduler
        return sched is not None and sched.plugins.get(PLUGIN_NAME) is self

    def update(self, msg):
        """Fold one event message (see :mod:`dkmeans.monitor.events`) into the job state."""
        kind, run_id = msg.get("kind"), str(msg.get("run_id") or "unknown")
        now = time.time()
        with self._lock:
            job = self.jobs.get(run_id)
            if job is None:
                job = self.jobs[run_id] = _new_job(run_id, msg.get("job"), now)
                while len(self.jobs) > self.max_jobs:
                    self.jobs.popitem(last=False)
            job["updated"] = now
            if msg.get("job"):
                job["name"] = str(msg["job"])
            if kind == "job-start":
                job.update(started=now, status="running", ended=None,
                           dashboard_link=msg.get("dashboard_link"))
            elif kind == "phase-start":
                total = msg.get("total")
                job.update(phase=str(msg.get("phase")), iteration=0, phase_started=now,
                           total=None if total is None else int(total))
            elif kind == "iteration":
                self._iteration(job, msg)
            elif kind == "phase-end":
                job["phases"][str(msg.get("phase"))] = float(msg.get("seconds") or 0.0)
            elif kind == "job-end":
                job.update(status=msg.get("status") or "ok", ended=now, error=msg.get("error"))

    def _iteration(self, job, msg):
        # coerce everything first, so a malformed message changes nothing
        rec = {"iteration": int(msg["iteration"]), "inertia": float(msg["inertia"]),
               "center_shift": float(msg.get("center_shift") or 0.0),
               "n_empty": int(msg.get("n_empty") or 0), "seconds": float(msg.get("seconds") or 0),
               "run": int(msg.get("run") or 0)}
        phase = str(msg.get("phase") or job["phase"])
        if phase != job["phase"]:
            job.update(phase=phase, total=None, phase_started=time.time())
        job.update(rec)
        job["empty_total"] += rec["n_empty"]
        curve = job["curves"].setdefault(f"{phase} run {rec['run']}", [])
        curve.append((rec["iteration"], rec["inertia"]))
        if len(curve) > self.max_points:
            curve[:] = curve[:1] + curve[2:-1:2] + curve[-1:]

    def snapshot(self):
        """A copy of the jobs' state, most recent first.

        Returns
        -------
        list of dict
        """
        now = time.time()
        with self._lock:
            jobs = [dict(j, curves={k: list(v) for k, v in j["curves"].items()},
                         phases=dict(j["phases"])) for j in self.jobs.values()]
        for job in jobs:
            job["elapsed"] = (job["ended"] or now) - job["started"]
        return jobs[::-1]


def register_scheduler_plugin(client):
    """Register :class:`DkmeansSchedulerPlugin` on the client's scheduler, if possible.

    The plugin travels pickled by reference, so the scheduler's environment must have
    dkmeans installed (as the workers' must). Failing that, or on any other error, the job
    goes on without the metrics and the page, with a warning.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    str or None
        The ``/dkmeans`` page's URL (derived from ``client.dashboard_link``) when the plugin
        is registered, else None.
    """
    try:
        client.register_plugin(DkmeansSchedulerPlugin())
    except Exception as exc:  # noqa: BLE001 - monitoring must never break the job
        logger.warning("dkmeans: could not register the scheduler plugin (%s: %s); no "
                       "dkmeans_* metrics or /dkmeans page. Is dkmeans installed where the "
                       "scheduler runs?", type(exc).__name__, exc)
        return None
    return monitor_page_url(getattr(client, "dashboard_link", None))


def monitor_page_url(dashboard_link):
    """``http://host:8787/status`` -> ``http://host:8787/dkmeans`` (None when unknown).

    Examples
    --------
    >>> monitor_page_url("http://127.0.0.1:8787/status")
    'http://127.0.0.1:8787/dkmeans'
    """
    if not dashboard_link or not str(dashboard_link).rstrip("/").endswith("/status"):
        return None
    return str(dashboard_link).rstrip("/")[: -len("status")] + "dkmeans"


def _new_job(run_id, name, now):
    return {"run_id": run_id, "name": str(name or "dkmeans"), "status": "running",
            "started": now, "ended": None, "updated": now, "error": None,
            "dashboard_link": None, "phase": None, "phase_started": now, "total": None,
            "iteration": 0, "inertia": None, "center_shift": None, "n_empty": 0,
            "seconds": None, "run": 0, "empty_total": 0, "phases": {}, "curves": {}}


# -- Prometheus --------------------------------------------------------------------------------
class DkmeansCollector:
    """``prometheus_client`` custom collector over every live plugin in this process."""

    def __init__(self):
        self.plugins = weakref.WeakSet()

    def describe(self):
        return []  # no up-front description: collect() is cheap but needs live state

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["job_name", "run_id"]

        def gauge(name, doc, extra=()):
            return GaugeMetricFamily(f"dkmeans_{name}", doc, labels=labels + list(extra))

        fams = {
            "running": gauge("job_running", "1 while the dkmeans job runs, 0 after"),
            "elapsed": gauge("job_elapsed_seconds", "Seconds since the job started"),
            "phase": gauge("phase_info", "The job's current (or last) phase", ["phase"]),
            "iteration": gauge("iteration", "Latest iteration of the current phase",
                               ["phase"]),
            "total": gauge("iterations_expected", "Expected iterations of the phase",
                           ["phase"]),
            "inertia": gauge("inertia", "Inertia after the latest iteration"),
            "shift": gauge("center_shift", "Total squared centre shift, latest iteration"),
            "seconds": gauge("iteration_seconds", "Wall-clock seconds of the latest iteration"),
            "phase_seconds": gauge("phase_seconds", "Seconds each finished phase took",
                                   ["phase"]),
            "empty": CounterMetricFamily("dkmeans_empty_clusters_relocated",
                                         "Empty clusters relocated so far", labels=labels),
        }
        for plugin in list(self.plugins):
            if not plugin.is_active():
                continue
            for job in plugin.snapshot():
                _job_samples(fams, job)
        return list(fams.values())


def _job_samples(fams, job):
    lab = [job["name"], job["run_id"]]
    phase = str(job["phase"] or "none")
    fams["running"].add_metric(lab, 1.0 if job["status"] == "running" else 0.0)
    fams["elapsed"].add_metric(lab, job["elapsed"])
    fams["phase"].add_metric(lab + [phase], 1.0)
    fams["iteration"].add_metric(lab + [phase], float(job["iteration"] or 0))
    if job["total"]:
        fams["total"].add_metric(lab + [phase], float(job["total"]))
    if job["inertia"] is not None:
        fams["inertia"].add_metric(lab, float(job["inertia"]))
        fams["shift"].add_metric(lab, float(job["center_shift"]))
        fams["seconds"].add_metric(lab, float(job["seconds"] or 0.0))
    for name, seconds in job["phases"].items():
        fams["phase_seconds"].add_metric(lab + [name], seconds)
    fams["empty"].add_metric(lab, float(job["empty_total"]))


_COLLECTOR = None
_COLLECTOR_LOCK = threading.Lock()


def _register_collector(plugin):
    """Add ``plugin`` to the process-wide collector, registering it on first use."""
    global _COLLECTOR
    try:
        from prometheus_client import REGISTRY
    except ImportError:
        logger.info("dkmeans: prometheus_client is not installed; no dkmeans_* metrics")
        return
    with _COLLECTOR_LOCK:
        if _COLLECTOR is None:
            _COLLECTOR = DkmeansCollector()
            REGISTRY.register(_COLLECTOR)
        _COLLECTOR.plugins.add(plugin)


def _unregister_collector(plugin):
    if _COLLECTOR is not None:
        _COLLECTOR.plugins.discard(plugin)


# -- HTTP --------------------------------------------------------------------------------------
def _http_prefix(app):
    """The dashboard's URL prefix, read off the route of Dask's own ``/metrics`` handler."""
    for host_rule in getattr(app.default_router, "rules", []):
        for rule in getattr(host_rule.target, "rules", []):
            pattern = getattr(getattr(rule.matcher, "regex", None), "pattern", "")
            if pattern.endswith("metrics$"):
                return pattern[: -len("metrics$")] or "/"
    return "/"


def _install_routes(scheduler):
    app = getattr(scheduler, "http_application", None)
    if app is None or getattr(app, "_dkmeans_routes", False):
        return
    from tornado import web

    class _Handler(web.RequestHandler):
        def initialize(self, scheduler):
            self.dask_scheduler = scheduler

        def _plugin(self):
            plugin = self.dask_scheduler.plugins.get(PLUGIN_NAME)
            if plugin is None:
                self.set_status(404)
                self.finish("the dkmeans scheduler plugin is not registered\n")
            return plugin

    class PageHandler(_Handler):
        def get(self):
            plugin = self._plugin()
            if plugin is not None:
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.write(render_status_page(plugin.snapshot()))

    class StateHandler(_Handler):
        def get(self):
            plugin = self._plugin()
            if plugin is not None:
                self.set_header("Content-Type", "application/json")
                self.write(json.dumps(plugin.snapshot(), default=str))

    prefix = _http_prefix(app)
    kwargs = {"scheduler": scheduler}
    app.add_handlers(r".*", [(prefix + "dkmeans/?", PageHandler, kwargs),
                             (prefix + "dkmeans/state.json", StateHandler, kwargs)])
    app._dkmeans_routes = True
