"""Watching a job: hooks, log lines, terminal progress, Dask events, scheduler metrics, reports.

- :mod:`~dkmeans.monitor.hooks`: :class:`JobObserver`, the no-op hooks the runner calls, and
  :class:`ObserverGroup`.
- :mod:`~dkmeans.monitor.logs`: :func:`configure_logging` (text or JSON lines) and
  :class:`LoggingObserver`.
- :mod:`~dkmeans.monitor.progress`: :class:`TerminalProgress`, a one-line live display.
- :mod:`~dkmeans.monitor.events`: :class:`DaskEventsObserver` (``client.log_event``) and
  :func:`phase_span` (``distributed.span``).
- :mod:`~dkmeans.monitor.scheduler_plugin`: Prometheus ``dkmeans_*`` metrics on the
  scheduler's ``/metrics`` and a ``/dkmeans`` page.
- :mod:`~dkmeans.monitor.report`: the self-contained ``report.html``;
  :mod:`~dkmeans.monitor.performance`: Dask's performance report saved beside the output.
- :mod:`~dkmeans.monitor.standard`: :func:`standard_observers`, the usual set.

Submodules are imported on demand, so importing the hooks stays cheap.
"""
