"""Keep a closing worker's own heartbeat failure out of the job's log.

A worker that closes drops its connections, including the one an in-flight heartbeat waits
on, and distributed logs that as an error with a traceback ("Failed to communicate with
scheduler during heartbeat"). When the job's LocalCluster shuts down after a successful run,
that lands on the job's stderr after "job finished", where a scheduler's log scan reads it as
a failure. The same message from a worker that is *not* closing means the scheduler is
unreachable, and is kept.
"""

from __future__ import annotations

import logging
import weakref

from distributed.core import Status
from distributed.diagnostics.plugin import WorkerPlugin

HEARTBEAT_FAILURE = "Failed to communicate with scheduler during heartbeat"

_CLOSING = frozenset({Status.closing, Status.closed, Status.closing_gracefully,
                      Status.failed})


class ClosingHeartbeatFilter(logging.Filter):
    """Drop heartbeat-failure records while a worker of this process is closing.

    A record does not say which worker logged it; with worker processes there is one worker
    per process, and with threads the workers of a LocalCluster close together.
    """

    def __init__(self):
        super().__init__()
        self._workers = weakref.WeakSet()

    def watch(self, worker):
        """Start judging records by ``worker``'s status too."""
        self._workers.add(worker)

    def filter(self, record):
        if not str(record.msg).startswith(HEARTBEAT_FAILURE):
            return True
        return not any(worker.status in _CLOSING for worker in list(self._workers))


_filter = ClosingHeartbeatFilter()


class QuietWorkerShutdown(WorkerPlugin):
    """Install :class:`ClosingHeartbeatFilter` on the ``distributed.worker`` log of each
    worker's process.

    The filter outlives the plugin: a worker removes its plugins before it drops its
    connections, and its heartbeat fails only then.
    """

    name = "dkmeans-quiet-worker-shutdown"
    idempotent = True

    def setup(self, worker):
        _filter.watch(worker)
        log = logging.getLogger("distributed.worker")
        if _filter not in log.filters:
            log.addFilter(_filter)
