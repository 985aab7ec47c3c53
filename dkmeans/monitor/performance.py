"""Save Dask's performance report next to the job's output, locally or on object storage.

:func:`write_performance_report` wraps :class:`distributed.performance_report`, which
gathers the task stream, worker profiles and bandwidth from the scheduler when the block
ends and writes one HTML file through fsspec (``storage_options`` passed through untouched),
so ``s3://bucket/out/performance-report.html`` works as well as a local path.

Design choices
--------------
- The report is written *directly* to its URL when the block ends, not staged locally and
  handed back as bytes: it is a diagnostic, not part of the output's commit, and an S3
  object only appears once its upload completes, so a reader never sees half a file.
- Monitoring never breaks the job: a failure to start or to write the report (no client,
  permissions, a bucket that does not exist) is logged as a warning and recorded on the
  yielded :class:`PerformanceReportFile`; an exception raised by the block itself always
  propagates unchanged.
- For local paths the parent directory is created first (fsspec does not).
- Only the URL is ever logged, with any password in it masked; never the storage options.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

from dkmeans.config.secrets import mask_url_credentials
from dkmeans.monitor.events import current_client

logger = logging.getLogger(__name__)

#: File name used by :func:`performance_report_url`.
DEFAULT_NAME = "performance-report.html"


@dataclass
class PerformanceReportFile:
    """What became of a performance report.

    Attributes
    ----------
    url : str
    written : bool
        True once the file was written.
    error : str or None
        Why it was not written, when it was not.
    """

    url: str
    written: bool = False
    error: str | None = None


def performance_report_url(output_url, name=DEFAULT_NAME):
    """``<output_url>/<name>``: the report's place beside (inside) the job's output.

    Parameters
    ----------
    output_url : str
        Local path or fsspec URL of the output directory.
    name : str, default ``"performance-report.html"``

    Returns
    -------
    str

    Examples
    --------
    >>> performance_report_url("s3://bucket/run-1/")
    's3://bucket/run-1/performance-report.html'
    """
    return str(output_url).rstrip("/") + "/" + name


def ensure_local_parent(url):
    """Create the parent directory of a local path or ``file://`` URL (fsspec does not)."""
    if "://" in url and not url.startswith("file://"):
        return
    path = url[len("file://"):] if url.startswith("file://") else url
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


@contextlib.contextmanager
def write_performance_report(url, *, storage_options=None, enabled=True, mode=None):
    """Record Dask's performance report for the block and save it at ``url``.

    Parameters
    ----------
    url : str
        Local path or fsspec URL of the HTML file.
    storage_options : dict, optional
        Passed to ``fsspec.open``.
    enabled : bool, default True
        False makes this a no-op (``report.performance: false``).
    mode : {None, 'cdn', 'inline'}, optional
        Bokeh resources mode, passed to ``performance_report``. Dask's default (None, i.e.
        CDN) keeps the file small but needs a network to open; ``'inline'`` embeds BokehJS
        (a few MB more) so it opens offline.

    Yields
    ------
    PerformanceReportFile
        Its ``written`` and ``error`` are filled in when the block ends.

    Notes
    -----
    Needs the current ``distributed.Client`` (``get_client()``); without one nothing is
    recorded and ``error`` says so.

    Examples
    --------
    >>> with write_performance_report("out/perf.html") as report:  # doctest: +SKIP
    ...     KMeans(8).fit(X)
    >>> report.written                                              # doctest: +SKIP
    True
    """
    handle = PerformanceReportFile(str(url))
    shown = mask_url_credentials(str(url))
    if not enabled:
        handle.error = "disabled"
        yield handle
        return
    if current_client() is None:
        handle.error = "no Dask client: no performance report"
        logger.info("%s", handle.error)
        yield handle
        return
    from distributed import performance_report

    # stacklevel 4 names the caller's with-block as the report's "calling code":
    # performance_report.__exit__ <- _finish <- this generator <- contextlib <- caller
    report = performance_report(filename=str(url), storage_options=dict(storage_options or {}),
                                mode=mode, stacklevel=4)
    try:
        ensure_local_parent(str(url))
        report.__enter__()
    except Exception as exc:  # noqa: BLE001 - monitoring must never break the job
        handle.error = f"{type(exc).__name__}: {exc}"
        logger.warning("could not start the performance report for %s: %s", shown,
                       mask_url_credentials(handle.error))
        yield handle
        return
    try:
        yield handle
    except BaseException as exc:
        _finish(report, handle, shown, (type(exc), exc, exc.__traceback__))
        raise
    else:
        _finish(report, handle, shown, (None, None, None))


def _finish(report, handle, shown, exc_info):
    try:
        report.__exit__(*exc_info)
    except Exception as exc:  # noqa: BLE001
        handle.error = f"{type(exc).__name__}: {exc}"
        logger.warning("could not write the performance report to %s: %s", shown,
                       mask_url_credentials(handle.error))
    else:
        handle.written = True
        logger.info("performance report written to %s", shown,
                    extra={"event": "performance_report", "url": shown})
