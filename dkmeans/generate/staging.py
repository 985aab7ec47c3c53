"""Crash-safe writing of a generated dataset: stage every file, then move them into place.

Files are written under a ``_dkmeans-generate-<token>/`` folder inside the target (invisible to
readers, which skip ``_``-prefixed names) and moved into place once every file is complete; a
failure removes that folder and leaves the target as it was. :func:`write_staged` runs the
protocol around a writer; :func:`write_table` writes one part under the staging folder.
"""

from __future__ import annotations

import logging
import posixpath
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dkmeans.errors import OutputExistsError, StorageError
from dkmeans.io.commit import move_many
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

#: Prefix of the Dask tasks and of the staging folder.
TASK_PREFIX = "dkmeans-generate"
_STAGING_PREFIX = f"_{TASK_PREFIX}-"
_PART_RE = re.compile(r"^part-\d{5,}\.parquet$")


def part_name(index: int) -> str:
    """``part-NNNNN.parquet`` for file ``index`` (five digits, more when needed)."""
    return f"part-{index:05d}.parquet"


# --------------------------------------------------------------------------------------------
# Writing one part


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue().to_pybytes()


def _write_bytes(handle: StorageHandle, path: str, data: bytes) -> None:
    """Write one file (indirection so that tests can inject failures)."""
    handle.fs.pipe_file(path, data)


def write_table(handle: StorageHandle, staging: str, name: str, table: pa.Table) -> dict[str, Any]:
    """Write ``table`` as the Parquet file ``name`` under the staging folder.

    Parameters
    ----------
    handle : StorageHandle
        The target.
    staging : str
        Name of the staging folder, as :func:`write_staged` passes it to its writer.
    name : str
        File name, :func:`part_name` of the part's index.
    table : pyarrow.Table
        The part's rows.

    Returns
    -------
    dict
        ``{"path": name, "rows": int, "bytes": int}``, what :func:`write_staged` expects of
        each part.
    """
    data = _parquet_bytes(table)
    _write_bytes(handle, handle.path(f"{staging}/{name}"), data)
    return {"path": name, "rows": table.num_rows, "bytes": len(data)}


# --------------------------------------------------------------------------------------------
# Staging and publishing


def _prepare_target(handle: StorageHandle, *, overwrite: bool) -> list[str]:
    """Check the target and return the names of the old parts to replace (with ``overwrite``).

    Leftover staging folders of crashed runs are not counted as content.
    """
    fs, root = handle.fs, handle.root
    fs.invalidate_cache()
    try:
        if fs.isfile(root):
            raise OutputExistsError(f"Cannot generate into '{handle.url}': it is a file.")
        entries = fs.ls(root, detail=True) if fs.isdir(root) else []
    except FileNotFoundError:
        entries = []
    names = {posixpath.basename(e["name"].rstrip("/")): e.get("type") for e in entries}
    content = sorted(n for n in names if not n.startswith(_STAGING_PREFIX))
    if not content:
        return []
    if not overwrite:
        raise OutputExistsError(
            f"Cannot generate into '{handle.url}': it already holds {len(content)} entr"
            f"{'y' if len(content) == 1 else 'ies'} (e.g. '{content[0]}'). Choose an empty "
            "location, or pass overwrite=True (--overwrite) to replace a dataset generated before."
        )
    foreign = [n for n in content if names[n] == "directory" or not _PART_RE.match(n)]
    if foreign:
        raise OutputExistsError(
            f"Cannot overwrite '{handle.url}': it holds '{foreign[0]}', which is not a "
            "part-NNNNN.parquet file written by dkmeans generate; remove it yourself if you "
            "mean to."
        )
    return content


def _remove_tree(handle: StorageHandle, path: str, *, attempts: int = 3) -> None:
    """Remove a staging folder; retried, as a task still running may be writing into it."""
    for attempt in range(attempts):
        try:
            handle.fs.rm(path, recursive=True)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == attempts - 1:
                logger.warning("Could not remove the staging folder %s; readers ignore it and "
                               "the next overwrite removes it", handle.to_url(path))
                return
            time.sleep(0.2 * (attempt + 1))


def _publish(handle: StorageHandle, staging: str, new: list[str], old: list[str]) -> None:
    """Move the old parts aside, the new ones in, then drop the staging folder.

    Each file appears whole (a rename on disk; on object stores a copy of a complete
    object); the set of files changes file by file. A failure puts the old parts back.
    """
    fs = handle.fs
    aside = [(handle.path(n), handle.path(f"{staging}/previous/{n}")) for n in old]
    moving_in = False
    try:
        move_many(handle, aside)
        moving_in = True
        move_many(handle, [(handle.path(f"{staging}/{n}"), handle.path(n)) for n in new])
    except Exception as exc:
        try:
            fs.invalidate_cache()
            if moving_in:  # the old parts are all aside: what is in place is new
                present = [handle.path(n) for n in new if fs.exists(handle.path(n))]
                if present:
                    fs.rm(present)
            move_many(handle, [(src, dst) for dst, src in aside if fs.exists(src)])
            restored = "the previous files were put back"
            _remove_tree(handle, handle.path(staging))
        except Exception:  # noqa: BLE001 - report the original failure
            restored = f"the previous files are left under {handle.to_url(handle.path(staging))}"
        raise StorageError(
            f"Publishing the generated files to '{handle.url}' failed "
            f"({type(exc).__name__}: {exc}); {restored}."
        ) from exc
    for stale in (d for d in _staging_folders(handle) if d != staging):
        _remove_tree(handle, handle.path(stale))
    _remove_tree(handle, handle.path(staging))


def _staging_folders(handle: StorageHandle) -> list[str]:
    try:
        paths = handle.fs.ls(handle.root, detail=False)
    except FileNotFoundError:
        return []
    names = (posixpath.basename(p.rstrip("/")) for p in paths)
    return [n for n in names if n.startswith(_STAGING_PREFIX)]


def write_staged(handle: StorageHandle, overwrite: bool,
                 write: Callable[[str], Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Check the target, let ``write(staging)`` write the parts under staging, publish them.

    Parameters
    ----------
    handle : StorageHandle
        The target folder.
    overwrite : bool
        Replace the ``part-NNNNN.parquet`` files of a dataset generated before.
    write : callable
        Called once with the name of the staging folder; writes every part under it (with
        :func:`write_table`) and returns one :func:`write_table` dict per part.

    Returns
    -------
    list of dict
        What ``write`` returned, once the parts are in place.

    Raises
    ------
    OutputExistsError
        The target is a file, is not empty and ``overwrite`` is False, or holds foreign files.
    StorageError
        Publishing failed (the previous files are put back where possible).
    """
    old = _prepare_target(handle, overwrite=overwrite)
    existed = handle.fs.exists(handle.root)
    staging = f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
    if handle.is_local:  # object stores have no folders (and makedirs could create a bucket)
        handle.fs.makedirs(handle.path(staging), exist_ok=True)
    try:
        infos = list(write(staging))
    except BaseException:
        _remove_tree(handle, handle.path(staging))
        if handle.is_local and not existed:  # do not leave behind a folder we created
            try:
                handle.fs.rmdir(handle.root)
            except OSError:
                pass
        raise
    _publish(handle, staging, [i["path"] for i in infos], old)
    return infos


def summarize(handle: StorageHandle, infos: list[dict[str, Any]],
              started: float) -> dict[str, Any]:
    """The summary the ``generate_*`` functions return.

    Parameters
    ----------
    handle : StorageHandle
        The target.
    infos : list of dict
        What :func:`write_staged` returned.
    started : float
        ``time.perf_counter()`` when the generation started.

    Returns
    -------
    dict
        ``url``, ``files`` (count), ``rows``, ``bytes``, ``parts`` (file names) and ``seconds``.
    """
    return {
        "url": handle.url,
        "files": len(infos),
        "rows": sum(i["rows"] for i in infos),
        "bytes": sum(i["bytes"] for i in infos),
        "parts": [i["path"] for i in infos],
        "seconds": round(time.perf_counter() - started, 3),
    }
