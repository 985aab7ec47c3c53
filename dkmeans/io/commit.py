"""Publishing a staged output so that a reader never trusts half of it.

Everything of a run is first written under ``<output>/_staging/<run_id>/`` (invisible to
readers: ``_``-prefixed). :func:`publish` then, in this order:

1. moves the old ``_SUCCESS`` aside — from here on the output is untrusted;
2. moves aside the old files the new output replaces, and the stale ones it does not
   (files of the old manifest, anything under ``labels/`` and ``model/``), into
   ``_staging/<run_id>/previous/``;
3. moves the staged files into place;
4. writes the new ``_SUCCESS`` manifest (one atomic write: a rename on disk, one PUT on S3);
5. deletes ``_staging/<run_id>/`` (the previous files included), then the rest of
   ``_staging/``.

A failure in steps 1–4 rolls back: new files are removed, the previous ones moved back, the
old ``_SUCCESS`` last; the previous output is then as it was. If the rollback fails too, the
output is left without ``_SUCCESS`` (untrusted, never half-trusted) and the error says so.
"Move" is ``os.replace`` on local disk and copy-then-delete on object stores (batched).
One writer per output at a time: step 5 removes other runs' staging too.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Iterable

from dkmeans.errors import StorageError
from dkmeans.io.manifest import MANIFEST_NAME
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

STAGING_DIR = "_staging"
PREVIOUS_DIR = "previous"
#: Folders whose every file belongs to dkmeans: files there not in the new manifest are stale.
MANAGED_DIRS = ("labels/", "model/")

# Indirection so that tests can inject failures into local moves.
_replace = os.replace


class PublishError(StorageError):
    """Publishing failed.

    Attributes
    ----------
    restored : bool
        Whether the previous output was put back. When False, the files moved aside are left
        under ``_staging/<run_id>/previous/`` for a person to inspect.
    """

    def __init__(self, message: str, *, restored: bool):
        super().__init__(message)
        self.restored = restored


def move_many(handle: StorageHandle, pairs: Iterable[tuple[str, str]]) -> None:
    """Move files (filesystem paths, ``(src, dst)``), replacing existing destinations."""
    pairs = list(pairs)
    if not pairs:
        return
    fs = handle.fs
    if handle.is_local:
        for src, dst in pairs:
            os.makedirs(posixpath.dirname(dst), exist_ok=True)
            _replace(src, dst)
        return
    srcs, dsts = [p[0] for p in pairs], [p[1] for p in pairs]
    fs.copy(srcs, dsts)
    fs.rm(srcs)


def write_atomic(handle: StorageHandle, relpath: str, data: bytes, *, tmp_relpath: str) -> None:
    """Write one file so that it appears whole or not at all."""
    fs, path = handle.fs, handle.path(relpath)
    if handle.is_local:
        tmp = handle.path(tmp_relpath)
        os.makedirs(posixpath.dirname(tmp), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    else:
        fs.pipe_file(path, data)  # one PUT: the object exists whole or not at all


def list_output(handle: StorageHandle) -> set[str]:
    """Relative paths of every file under the output, ``_staging/`` left out."""
    fs, root = handle.fs, handle.root
    fs.invalidate_cache()
    try:
        found = fs.find(root)
    except FileNotFoundError:
        return set()
    except Exception as exc:  # OSError, botocore errors: nothing has moved yet
        raise StorageError(f"Listing the output {handle.url} failed: {type(exc).__name__}: "
                           f"{exc}") from exc
    rels = {p[len(root) + 1 :] for p in found if p.startswith(root + "/")}
    return {r for r in rels if not r.startswith(STAGING_DIR + "/")}


def publish(handle: StorageHandle, *, run_id: str, new_files: list[str], manifest: bytes,
            old_manifest: dict | None) -> None:
    """Publish the staged files of ``run_id`` (see the module docstring for the protocol).

    Parameters
    ----------
    handle : StorageHandle
        The output root.
    run_id : str
        Staged files live under ``_staging/<run_id>/``.
    new_files : list of str
        Relative paths of the staged files (``_SUCCESS`` not included).
    manifest : bytes
        Content of the new ``_SUCCESS``.
    old_manifest : dict or None
        The current manifest, whose files are stale unless re-written.

    Raises
    ------
    StorageError
        When publishing failed; the message says whether the previous output was restored.
    """
    stage = f"{STAGING_DIR}/{run_id}"
    existing = list_output(handle)
    old_listed = {f["path"] for f in (old_manifest or {}).get("files", [])}
    new = set(new_files)
    stale = {r for r in existing - new - {MANIFEST_NAME}
             if r in old_listed or r.startswith(MANAGED_DIRS)}
    aside = sorted((existing & new) | stale)
    had_success = MANIFEST_NAME in existing
    logger.info("Publishing %s: %d file(s), replacing %d, removing %d stale",
                handle.url, len(new), len(existing & new), len(stale))
    backup = [(handle.path(r), handle.path(f"{stage}/{PREVIOUS_DIR}/{r}")) for r in aside]
    step = "moving the old _SUCCESS aside"  # named in the error: says where it stopped
    try:
        if had_success:
            move_many(handle, [(handle.path(MANIFEST_NAME),
                                handle.path(f"{stage}/{PREVIOUS_DIR}/{MANIFEST_NAME}"))])
        step = f"moving {len(backup)} old file(s) aside"
        move_many(handle, backup)
        step = f"moving {len(new)} new file(s) into place"
        move_many(handle, [(handle.path(f"{stage}/{r}"), handle.path(r)) for r in sorted(new)])
        step = f"writing {handle.to_url(handle.path(MANIFEST_NAME))}"
        write_atomic(handle, MANIFEST_NAME, manifest, tmp_relpath=f"{stage}/{MANIFEST_NAME}.tmp")
    except Exception as exc:
        restored = _rollback(handle, stage, new - existing, aside, had_success)
        state = ("the previous output was restored" if restored else
                 "rolling back failed too: the output has no _SUCCESS and must not be trusted "
                 f"until a rerun succeeds; the previous files are under {stage}/{PREVIOUS_DIR}/")
        raise PublishError(
            f"Publishing {handle.url} failed while {step} ({type(exc).__name__}: {exc}); "
            f"{state}.",
            restored=restored,
        ) from exc
    # this run's folder first: deleting all of _staging/ can stop halfway when another run
    # writes there meanwhile, and must not leave this run's files behind when it does
    remove_tree(handle, stage)
    remove_tree(handle, STAGING_DIR)
    logger.info("Published %s (%d file(s))", handle.url, len(new))


def _rollback(handle: StorageHandle, stage: str, added: set[str], aside: list[str],
              had_success: bool) -> bool:
    """Undo a partial publish from what storage holds now; True when it worked."""
    fs = handle.fs
    try:
        fs.invalidate_cache()
        placed = [handle.path(r) for r in sorted(added) if fs.exists(handle.path(r))]
        if placed:
            fs.rm(placed)
        prev = f"{stage}/{PREVIOUS_DIR}"
        back = [(handle.path(f"{prev}/{r}"), handle.path(r)) for r in aside
                if fs.exists(handle.path(f"{prev}/{r}"))]
        move_many(handle, back)
        old_success = handle.path(f"{prev}/{MANIFEST_NAME}")
        if had_success and fs.exists(old_success):
            move_many(handle, [(old_success, handle.path(MANIFEST_NAME))])
    except Exception:
        logger.exception("Rolling back the publish of %s failed", handle.url)
        return False
    logger.warning("Publishing %s failed; the previous output was restored", handle.url)
    return True


def remove_tree(handle: StorageHandle, relpath: str) -> None:
    """Delete a folder of the output and everything below it; a missing one is fine."""
    fs, path = handle.fs, handle.path(relpath)
    try:
        fs.invalidate_cache()
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass
    except Exception as exc:  # cleaning up is best effort: the output is already consistent
        logger.warning("Could not delete %s: %s", handle.to_url(path), exc)
