"""One publisher at a time per output: ``_publish.lock``, created exclusively.

Two runs that finish together must not both publish into one output (with ``mode: error``
both would see no ``_SUCCESS`` and both would write one). The lock is a file created with
exclusive-create semantics: ``O_EXCL`` on local disk, and fsspec's ``"xb"`` mode on object
stores that support conditional writes. A second publisher waits for the first; a lock left
by a run that crashed while publishing expires after ``stale_after`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

from dkmeans.errors import StorageError

logger = logging.getLogger(__name__)

LOCK_NAME = "_publish.lock"


def _try_create(handle, path, run_id):
    """Create the lock file if absent; True when this call created it."""
    if handle.is_local:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(run_id)
        return True
    try:
        with handle.fs.open(path, "xb") as f:
            f.write(run_id.encode())
        return True
    except FileExistsError:
        return False
    except (NotImplementedError, ValueError, TypeError):
        return None  # this store cannot create exclusively


def _age(handle, path):
    try:
        info = handle.fs.info(path)
    except FileNotFoundError:
        return 0.0
    modified = info.get("mtime") or info.get("LastModified") or info.get("created")
    if hasattr(modified, "timestamp"):
        modified = modified.timestamp()
    return time.time() - float(modified) if modified else 0.0


@contextlib.contextmanager
def publish_lock(handle, run_id, *, wait=300.0, stale_after=600.0, poll=0.2):
    """Hold the output's publish lock for the block.

    Parameters
    ----------
    handle : dkmeans.io.storage.StorageHandle
        The output.
    run_id : str
        Written into the lock, to say who holds it.
    wait : float, default 300
        Seconds to wait for another publisher before failing.
    stale_after : float, default 600
        A lock older than this was left by a crashed run and is removed.

    Raises
    ------
    StorageError
        Another run held the lock for longer than ``wait``.
    """
    path = handle.path(LOCK_NAME)
    deadline = time.monotonic() + wait
    while True:
        created = _try_create(handle, path, run_id)
        if created is None:
            logger.warning("%s cannot create files exclusively: publishing without a lock",
                           handle.to_url(path))
            yield
            return
        if created:
            break
        if _age(handle, path) > stale_after:
            logger.warning("removing a stale publish lock at %s", handle.to_url(path))
            with contextlib.suppress(FileNotFoundError):
                handle.fs.rm(path)
            continue
        if time.monotonic() > deadline:
            raise StorageError(f"Another run is publishing to {handle.url} (lock "
                               f"{handle.to_url(path)}); gave up after {wait:g} s.")
        time.sleep(poll)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            handle.fs.rm(path)
