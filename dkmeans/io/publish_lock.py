"""One publisher at a time per output: ``_publish.lock``, created exclusively.

Two runs that finish together must not both publish into one output (with ``mode: error``
both would see no ``_SUCCESS`` and both would write one). The lock is a file created with
exclusive-create semantics: ``O_EXCL`` on local disk, and fsspec's ``"xb"`` mode on object
stores that support conditional writes (s3fs sends ``If-None-Match: *``). A second publisher
waits for the first; a lock left by a run that crashed while publishing expires after
``stale_after`` seconds.

On S3 a conditional PUT whose response was lost is retried by the client and then refused
(``412``) because the first attempt created the lock: a refused create that finds our own
run id in the lock therefore counts as ours.
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
    """Create the lock file if absent; True when this call created it, None when the store
    cannot create exclusively."""
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
        return _holder(handle, path) == run_id
    except (NotImplementedError, ValueError, TypeError):
        return None  # this store cannot create exclusively


def _holder(handle, path):
    """The run id written in the lock, or None when it cannot be read."""
    try:
        return handle.fs.cat_file(path).decode(errors="replace")
    except Exception:  # noqa: BLE001 - gone or unreadable: not ours
        return None


def _storage_error(handle, path, doing, exc):
    return StorageError(f"{doing} the publish lock {handle.to_url(path)} failed: "
                        f"{type(exc).__name__}: {exc}")


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
        Another run held the lock for longer than ``wait``, or storage failed (after the
        client's own retries) while taking or checking it; the message names the lock.
    """
    path = handle.path(LOCK_NAME)
    deadline = time.monotonic() + wait
    while True:
        try:
            created = _try_create(handle, path, run_id)
        except Exception as exc:  # storage failed after the client's retries
            raise _storage_error(handle, path, "Taking", exc) from exc
        if created is None:
            logger.warning("%s cannot create files exclusively: publishing without a lock",
                           handle.to_url(path))
            yield
            return
        if created:
            break
        try:
            if _age(handle, path) > stale_after:
                logger.warning("removing a stale publish lock at %s", handle.to_url(path))
                with contextlib.suppress(FileNotFoundError):
                    handle.fs.rm(path)
                continue
        except Exception as exc:
            raise _storage_error(handle, path, "Checking", exc) from exc
        if time.monotonic() > deadline:
            raise StorageError(f"Another run is publishing to {handle.url} (lock "
                               f"{handle.to_url(path)}); gave up after {wait:g} s.")
        time.sleep(poll)
    try:
        yield
    finally:
        _release(handle, path)


def _release(handle, path):
    # Best effort: the publish has already succeeded or failed on its own; a lock left behind
    # only delays the next publisher until it is stale.
    try:
        handle.fs.rm(path)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not remove the publish lock %s (%s: %s); the next publish to "
                       "this output waits until it is stale, or delete it by hand",
                       handle.to_url(path), type(exc).__name__, exc)
