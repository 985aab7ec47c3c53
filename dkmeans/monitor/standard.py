"""The usual set of observers for a job, as the runner picks them.

Interactive (stderr is a terminal): the one-line progress display. Otherwise: plain (or
JSON) log lines. With a Dask client: the Dask events too, which feed the scheduler plugin's
metrics and page. The report and the performance report are not observers: the runner
builds the report from the fitted model, and wraps the job in
:func:`dkmeans.monitor.performance.write_performance_report`.
"""

from __future__ import annotations

import sys

from dkmeans.monitor.events import DaskEventsObserver
from dkmeans.monitor.hooks import ObserverGroup
from dkmeans.monitor.logs import LoggingObserver
from dkmeans.monitor.progress import TerminalProgress


def standard_observers(*, client=None, stream=None, interactive=None, every=1):
    """Observers for a job: progress or log lines, plus Dask events when there is a client.

    Parameters
    ----------
    client : distributed.Client, optional
    stream : file-like, default ``sys.stderr``
        Where the progress display draws.
    interactive : bool, optional
        Default ``stream.isatty()``.
    every : int, default 1
        Log and publish one iteration in ``every`` (always the first and last of a phase);
        e.g. 100 for mini-batch steps.

    Returns
    -------
    ObserverGroup
    """
    stream = sys.stderr if stream is None else stream
    if interactive is None:
        isatty = getattr(stream, "isatty", None)
        interactive = bool(isatty and isatty())
    observers = [TerminalProgress(stream) if interactive else LoggingObserver(every=every)]
    if client is not None:
        observers.append(DaskEventsObserver(client, every=every))
    return ObserverGroup(observers)
