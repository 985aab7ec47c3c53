"""The extension point for watching a job: a base class of no-op hooks.

The runner calls these hooks; logging, the terminal progress display, Dask events, Prometheus
metrics and the report subscribe by subclassing :class:`JobObserver`. Observers only observe:
nothing they do flows back into the job.

Examples
--------
>>> from dkmeans.monitor.hooks import JobObserver
>>> class PrintInertia(JobObserver):
...     def on_iteration(self, record):
...         print(record.iteration, record.inertia)
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class JobObserver:
    """Hooks called by the runner, in this order: start, (phase start/end, iterations)*, end."""

    def on_job_start(self, info):
        """The job begins. ``info``: dict with ``name``, ``config`` (secrets masked),
        ``dashboard_link`` (or None), ``run_id``, and optionally ``monitor_page`` (the
        scheduler's ``/dkmeans`` page, from
        :func:`dkmeans.monitor.scheduler_plugin.register_scheduler_plugin`)."""

    def on_phase_start(self, phase, *, total=None):
        """A phase begins (``"read"``, ``"init"``, ``"lloyd"``, ``"write-labels"``, ...);
        ``total`` is the expected number of steps when known (e.g. ``max_iter``)."""

    def on_iteration(self, record):
        """One iteration finished: a :class:`dkmeans.results.IterationRecord`."""

    def on_phase_end(self, phase, seconds):
        """A phase finished after ``seconds``."""

    def on_job_end(self, summary, error=None):
        """The job ended: ``summary`` is the metrics dict; ``error`` the exception if it failed."""


class ObserverGroup(JobObserver):
    """Fans every hook out to several observers; a failing observer is logged, not raised."""

    def __init__(self, observers=()):
        self.observers = list(observers)

    def _call(self, name, *args, **kwargs):
        for observer in self.observers:
            try:
                getattr(observer, name)(*args, **kwargs)
            except Exception:  # noqa: BLE001 - monitoring must never break the job
                logger.warning("observer %s failed in %s", type(observer).__name__, name,
                               exc_info=True)

    def on_job_start(self, info):
        self._call("on_job_start", info)

    def on_phase_start(self, phase, *, total=None):
        self._call("on_phase_start", phase, total=total)

    def on_iteration(self, record):
        self._call("on_iteration", record)

    def on_phase_end(self, phase, seconds):
        self._call("on_phase_end", phase, seconds)

    def on_job_end(self, summary, error=None):
        self._call("on_job_end", summary, error)
