"""Publish the job's progress as Dask events, and tag each phase's tasks with a span.

Events go to the scheduler under the topic ``"dkmeans"`` (:data:`TOPIC`) through
``Client.log_event``; anyone can read them back with ``client.get_events("dkmeans")`` or
follow them live with ``client.subscribe_topic("dkmeans", handler)``, and the scheduler
plugin (:mod:`dkmeans.monitor.scheduler_plugin`) turns them into Prometheus metrics and the
``/dkmeans`` page. Every message is a flat, msgpack-serialisable dict:

=================  ====================================================================
``kind``           ``"job-start"``, ``"phase-start"``, ``"iteration"``, ``"phase-end"``,
                   ``"job-end"``
``run_id``         the job's run id (one job's messages share it)
``job``            the job's name
``time``           client wall-clock time (seconds since the epoch)
job-start          ``dashboard_link``
phase-start        ``phase``, ``total`` (expected steps or None)
iteration          ``phase``, ``iteration``, ``inertia``, ``center_shift``, ``n_empty``,
                   ``seconds``, ``run``
phase-end          ``phase``, ``seconds``
job-end            ``status`` (``"ok"``/``"failed"``), ``error`` (text or None), and the
                   scalar entries of the summary
=================  ====================================================================

Publishing is one small round trip to the scheduler per message, i.e. per iteration, next to
an iteration's full pass over the data. A failure to publish is logged once and never
raised: monitoring must not break the job.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid

from dkmeans.config.secrets import mask_url_credentials
from dkmeans.monitor.hooks import JobObserver

logger = logging.getLogger(__name__)

#: The Dask event topic dkmeans publishes on.
TOPIC = "dkmeans"


def current_client():
    """The current ``distributed.Client``, or None when there is none (or no distributed).

    Returns
    -------
    distributed.Client or None
    """
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


@contextlib.contextmanager
def phase_span(phase, client=None):
    """Tag the tasks submitted inside the block with the span ``dkmeans-<phase>``.

    The dashboard's span views (and ``Scheduler.extensions["spans"]``) then group a phase's
    tasks and their timings. Without a Dask client (in-memory data, the local threaded
    scheduler) this does nothing.

    Parameters
    ----------
    phase : str
        ``"read"``, ``"init"``, ``"lloyd"``, ``"write-labels"``, ...
    client : distributed.Client, optional
        Default: the current client, if any.

    Yields
    ------
    str or None
        The span id, or None without a client.

    Examples
    --------
    >>> with phase_span("lloyd") as span_id:   # no client here: a no-op
    ...     pass
    >>> span_id is None
    True
    """
    if client is None:
        client = current_client()
    if client is None:
        yield None
        return
    from distributed import span

    with span(f"dkmeans-{phase}") as span_id:
        yield span_id


def _plain(value):
    """A msgpack-friendly scalar: NumPy scalars unwrapped, non-finite floats as text."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def summary_scalars(summary):
    """The entries of a summary dict that are plain scalars (numbers, text, bools, None).

    Parameters
    ----------
    summary : dict or None

    Returns
    -------
    dict
    """
    out = {}
    for key, value in dict(summary or {}).items():
        value = _plain(value)
        if value is None or isinstance(value, (bool, int, float, str)):
            out[str(key)] = value
    return out


class DaskEventsObserver(JobObserver):
    """Publish phase changes and iteration records with ``client.log_event("dkmeans", ...)``.

    Parameters
    ----------
    client : distributed.Client
    run_id : str, optional
        Used until ``on_job_start`` supplies the job's own; default a fresh UUID, so records
        published without a job (``fit(on_iteration=observer.on_iteration)``) still group.
    name : str, optional
        The job's name until ``on_job_start`` supplies it; default ``"dkmeans"``.
    topic : str, default ``"dkmeans"``
    every : int, default 1
        Publish one iteration in ``every`` (the first and the last of each phase always):
        each event is a round trip to the scheduler, so thin out thousands of mini-batch
        steps, e.g. ``every=50``.

    Examples
    --------
    >>> from distributed import Client                       # doctest: +SKIP
    >>> client = Client()                                    # doctest: +SKIP
    >>> events = DaskEventsObserver(client, name="demo")     # doctest: +SKIP
    >>> KMeans(3).fit(X, on_iteration=events.on_iteration)   # doctest: +SKIP
    >>> client.get_events("dkmeans")[-1][1]["inertia"]       # doctest: +SKIP
    """

    def __init__(self, client, *, run_id=None, name=None, topic=TOPIC, every=1):
        self.client = client
        self.run_id = run_id or uuid.uuid4().hex
        self.name = name or "dkmeans"
        self.topic = topic
        self.every = max(1, int(every))
        self._warned = False
        self._pending = None  # the latest record not yet published

    def publish(self, kind, **fields):
        """Log one event; errors are logged once, never raised.

        Parameters
        ----------
        kind : str
        **fields
            Scalars only.

        Returns
        -------
        bool
            Whether the event reached the scheduler.
        """
        if getattr(self.client, "status", "running") != "running":
            # lost its scheduler: each event would wait for the connect timeout, for nothing
            return False
        msg = {"kind": kind, "run_id": self.run_id, "job": self.name, "time": time.time()}
        msg.update({k: _plain(v) for k, v in fields.items()})
        try:
            self.client.log_event(self.topic, msg)
            return True
        except Exception as exc:  # noqa: BLE001 - monitoring must never break the job
            if not self._warned:
                self._warned = True
                logger.warning("could not publish dkmeans events to the scheduler (%s: %s); "
                               "further failures are not reported", type(exc).__name__, exc)
            return False

    def on_job_start(self, info):
        self.run_id = info.get("run_id") or self.run_id
        self.name = info.get("name") or self.name
        self.publish("job-start", dashboard_link=info.get("dashboard_link"))

    def on_phase_start(self, phase, *, total=None):
        self.publish("phase-start", phase=phase, total=total)

    def on_iteration(self, record):
        if record.iteration == 1 or record.iteration % self.every == 0:
            self._publish_record(record)
        else:
            self._pending = record

    def _publish_record(self, record):
        self._pending = None
        self.publish("iteration", phase=record.phase, iteration=int(record.iteration),
                     inertia=float(record.inertia), center_shift=float(record.center_shift),
                     n_empty=int(record.n_empty), seconds=float(record.seconds),
                     run=int(record.run))

    def on_phase_end(self, phase, seconds):
        if self._pending is not None and self._pending.phase == phase:
            self._publish_record(self._pending)  # a phase's last step is always published
        self._pending = None
        self.publish("phase-end", phase=phase, seconds=float(seconds))

    def on_job_end(self, summary, error=None):
        fields = summary_scalars(summary)
        for reserved in ("kind", "run_id", "job", "time", "status", "error"):
            fields.pop(reserved, None)
        self.publish("job-end", status="failed" if error is not None else "ok",
                     error=None if error is None else mask_url_credentials(
                         f"{type(error).__name__}: {error}"),
                     **fields)
