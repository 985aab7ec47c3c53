"""Log lines for people and for machines: plain timestamped text, or one JSON object a line.

:func:`configure_logging` is what the CLI calls once (``--log-format text|json``);
:class:`LoggingObserver` turns the job's hooks into log records. Each record carries its
numbers twice: in the human message, and as ``extra`` fields (``event``, ``phase``,
``iteration``, ``inertia``, ...) that the JSON formatter emits as keys, so a log pipeline can
chart a job without parsing sentences.

Secrets: the observer logs the job's name, run id, dashboard link and numbers, never the
configuration or storage options; as a second line of defence both formatters pass every
line through :func:`dkmeans.config.secrets.mask_url_credentials` and mask secret-looking keys
in the extra fields.

Examples
--------
>>> import io, logging
>>> stream = io.StringIO()
>>> handler = configure_logging("json", stream=stream)
>>> logging.getLogger("dkmeans.demo").info("hello", extra={"rows": 3})
>>> '"message": "hello", "rows": 3' in stream.getvalue()
True
>>> reset_logging()
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import sys

from dkmeans.config.secrets import mask_secrets, mask_url_credentials
from dkmeans.monitor.hooks import JobObserver

logger = logging.getLogger(__name__)

#: Attributes every ``LogRecord`` has; anything else on a record came in through ``extra``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}

_FORMATS = ("text", "json")


def _iso_time(created):
    stamp = _dt.datetime.fromtimestamp(created, tz=_dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsonable(value):
    """Numbers, strings, bools and None as they are; NumPy scalars unwrapped; others ``str``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # NumPy scalar
        return _jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def record_extras(record):
    """The fields a log call passed with ``extra=``, secrets masked.

    Parameters
    ----------
    record : logging.LogRecord

    Returns
    -------
    dict
    """
    extras = {k: v for k, v in vars(record).items()
              if k not in _STANDARD_ATTRS and not k.startswith("_")}
    return mask_secrets(_jsonable(extras))


class TextFormatter(logging.Formatter):
    """``2026-05-01T12:00:00.123Z INFO    dkmeans.runner: message`` (UTC, ISO 8601)."""

    def format(self, record):
        line = (f"{_iso_time(record.created)} {record.levelname:<7} {record.name}: "
                f"{record.getMessage()}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_url_credentials(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, extra fields.

    An exception adds ``exc_type`` and ``exc`` (the formatted traceback). Extra fields never
    overwrite the four standard keys.
    """

    def format(self, record):
        obj = {"time": _iso_time(record.created), "level": record.levelname,
               "logger": record.name, "message": mask_url_credentials(record.getMessage())}
        for key, value in record_extras(record).items():
            obj.setdefault(key, value)
        if record.exc_info:
            obj["exc_type"] = record.exc_info[0].__name__
            obj["exc"] = mask_url_credentials(self.formatException(record.exc_info))
        return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def configure_logging(fmt="text", level="INFO", *, stream=None):
    """Send log records to ``stream`` (default stderr) as text or JSON lines.

    Installs one handler on the root logger, replacing any earlier one installed by this
    function (so calling it twice does not duplicate lines) and leaving other handlers alone.

    Parameters
    ----------
    fmt : {'text', 'json'}, default 'text'
    level : str or int, default 'INFO'
        Level of the ``dkmeans`` logger. Other libraries keep their own levels (the root
        logger's default, ``WARNING``, unless the application changed it).
    stream : file-like, optional
        Default ``sys.stderr``.

    Returns
    -------
    logging.Handler
        The installed handler.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"The 'fmt' parameter of configure_logging must be a str among "
                         f"{set(_FORMATS)}. Got {fmt!r} instead.")
    reset_logging()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._dkmeans = True
    logging.getLogger().addHandler(handler)
    logging.getLogger("dkmeans").setLevel(level if isinstance(level, int) else level.upper())
    return handler


def reset_logging():
    """Remove the handler :func:`configure_logging` installed, if any."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dkmeans", False):
            root.removeHandler(handler)


def _fmt_seconds(seconds):
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{sec:04.1f}" if hours else f"{minutes}:{sec:04.1f}"


class LoggingObserver(JobObserver):
    """Log the job as it runs: start (with the dashboard link), phases, iterations, the end.

    Parameters
    ----------
    logger : logging.Logger, optional
        Default ``logging.getLogger("dkmeans.job")``.
    every : int, default 1
        Log one iteration in ``every`` (the first and the last of a phase are always
        logged); use e.g. 100 for mini-batch steps.

    Examples
    --------
    >>> from dkmeans.results import IterationRecord
    >>> obs = LoggingObserver()
    >>> obs.on_phase_start("lloyd", total=300)
    >>> obs.on_iteration(IterationRecord("lloyd", 1, 12.5, 0.25, 0, 0.1))
    """

    def __init__(self, logger=None, *, every=1):
        self.logger = logger or logging.getLogger("dkmeans.job")
        self.every = max(1, int(every))
        self._totals = {}
        self._last = None

    def on_job_start(self, info):
        name, run_id = info.get("name"), info.get("run_id")
        link, page = info.get("dashboard_link"), info.get("monitor_page")
        self.logger.info("job %s started (run %s); dashboard: %s%s", name, run_id,
                         link or "none (no Dask client)",
                         f" (dkmeans page: {page})" if page else "",
                         extra={"event": "job_start", "job": name, "run_id": run_id,
                                "dashboard_link": link, "monitor_page": page})

    def on_phase_start(self, phase, *, total=None):
        self._totals[phase] = total
        self.logger.info("phase %s started%s", phase,
                         f" (up to {total} iterations)" if total else "",
                         extra={"event": "phase_start", "phase": phase, "total": total})

    def on_iteration(self, record):
        total = self._totals.get(record.phase)
        self._last = record
        if self._selected(record, total):
            self._log_iteration(record, total)

    def _selected(self, record, total):
        return (record.iteration == 1 or record.iteration % self.every == 0
                or record.iteration == total)

    def _log_iteration(self, record, total):
        of = f"/{total}" if total else ""
        run = f" run {record.run}" if record.run else ""
        self.logger.info(
            "%s%s iteration %d%s: inertia %.6g, shift %.3g, empty %d, %.3f s",
            record.phase, run, record.iteration, of, record.inertia, record.center_shift,
            record.n_empty, record.seconds,
            extra={"event": "iteration", "phase": record.phase, "iteration": record.iteration,
                   "total": total, "inertia": record.inertia,
                   "center_shift": record.center_shift, "n_empty": record.n_empty,
                   "seconds": record.seconds, "run": record.run})

    def on_phase_end(self, phase, seconds):
        last, total = self._last, self._totals.get(phase)
        if last is not None and last.phase == phase and not self._selected(last, total):
            self._log_iteration(last, total)  # a phase's last step is always logged
        self._last = None
        self.logger.info("phase %s finished in %s", phase, _fmt_seconds(seconds),
                         extra={"event": "phase_end", "phase": phase, "seconds": seconds})

    def on_job_end(self, summary, error=None):
        summary = dict(summary or {})
        scalars = {k: v for k, v in summary.items()
                   if v is None or isinstance(v, (bool, int, float, str))
                   or getattr(v, "ndim", None) == 0}
        text = ", ".join(f"{k}={_short(v)}" for k, v in sorted(scalars.items()))
        extra = {"event": "job_end", "summary": scalars, "status": "failed" if error else "ok"}
        if error is not None:
            self.logger.error("job failed: %s: %s%s", type(error).__name__, error,
                              f" ({text})" if text else "", extra=extra)
        else:
            self.logger.info("job finished: %s", text or "no metrics", extra=extra)


def _short(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
