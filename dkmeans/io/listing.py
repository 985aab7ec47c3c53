"""Find the Parquet files behind an input URL, the way Spark, DuckDB and Hive lay them out.

A URL names a file, a folder or a glob. Inside a folder every file counts except bookkeeping:
any file or folder whose name starts with ``_`` or ``.`` (``_SUCCESS``, ``_committed_123``,
``_staging/``, ``.part-0.crc``, ``.ipynb_checkpoints/``) and any ``*.crc`` file. Folders named
``key=value`` are Hive partitions: their keys become columns of every file below them.
Files come back sorted by path, so the row order of a dataset never depends on the listing.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from dataclasses import dataclass
from urllib.parse import unquote

from dkmeans.errors import InputDataError, StorageError
from dkmeans.io.storage import StorageHandle, has_glob

logger = logging.getLogger(__name__)

#: Hive's spelling of a null partition value.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class FileEntry:
    """One input file, as listed.

    Attributes
    ----------
    path : str
        Path on the input filesystem (protocol stripped).
    size : int
        Size in bytes.
    version : str
        What the listing gives cheaply to tell two versions apart: the ETag on object
        stores, the modification time on disks.
    partitions : tuple of (str, str or None)
        Hive partition keys and raw values from the folders between the input root and the
        file, outermost first; ``None`` for Hive's null partition.
    """

    path: str
    size: int
    version: str
    partitions: tuple[tuple[str, str | None], ...] = ()


def is_ignored(relpath: str) -> bool:
    """Whether a path relative to the input root is bookkeeping rather than data.

    Examples
    --------
    >>> [is_ignored(p) for p in ["_SUCCESS", "a=1/part-0.parquet", "a=1/.part-0.crc", "x.crc"]]
    [True, False, True, True]
    """
    parts = [p for p in relpath.split("/") if p]
    if any(p.startswith(("_", ".")) for p in parts):
        return True
    return bool(parts) and parts[-1].endswith(".crc")


def hive_partitions(relpath: str) -> tuple[tuple[str, str | None], ...]:
    """The ``key=value`` folders of a path relative to the input root (the file name excluded)."""
    out = []
    for part in relpath.split("/")[:-1]:
        key, sep, value = part.partition("=")
        if sep and key:
            value = unquote(value)
            out.append((unquote(key), None if value == HIVE_NULL else value))
    return tuple(out)


def _version(info: dict) -> str:
    for key in ("ETag", "etag", "mtime", "LastModified", "last_modified", "updated"):
        if info.get(key) not in (None, ""):
            return str(info[key]).strip('"')
    return ""


def _glob_base(path: str) -> str:
    """The folder a glob pattern starts from: everything before the first magic component."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if has_glob(part):
            return "/".join(parts[:i])
    return posixpath.dirname(path)


def _list_raw(handle: StorageHandle) -> tuple[dict[str, dict], str, bool]:
    """Every file under the URL with its info, the root relative paths start from, and
    whether the URL named a folder or a glob (so that partitions apply)."""
    fs, path = handle.fs, handle.root
    fs.invalidate_cache()  # a previous step of this job may have written here
    try:
        if has_glob(path):
            found = fs.glob(path, detail=True)
            files = {p: i for p, i in found.items() if i.get("type") != "directory"}
            for p, i in found.items():
                if i.get("type") == "directory":
                    files.update(fs.find(p, detail=True))
            return files, _glob_base(path), True
        if fs.isdir(path):
            return fs.find(path, detail=True), path, True
        if fs.isfile(path):
            return {path: fs.info(path)}, posixpath.dirname(path), False
    except (FileNotFoundError, PermissionError) as exc:
        raise InputDataError(
            f"Input '{handle.url}' cannot be listed: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:  # OSError, botocore errors, bad storage options (TypeError)
        raise StorageError(
            f"Listing input '{handle.url}' failed: {type(exc).__name__}: {exc}"
        ) from exc
    raise InputDataError(
        f"Input '{handle.url}' does not exist: expected a Parquet file, a folder of Parquet "
        "files or a glob pattern."
    )


def list_input_files(handle: StorageHandle) -> list[FileEntry]:
    """List the data files behind an input URL.

    Parameters
    ----------
    handle : StorageHandle
        The input URL and its storage options.

    Returns
    -------
    list of FileEntry
        Sorted by path; bookkeeping files left out (see the module docstring).

    Raises
    ------
    InputDataError
        When the URL does not exist or holds no data file.
    """
    raw, base, partitioned = _list_raw(handle)
    base = base.rstrip("/")
    entries, ignored = [], 0
    for path in sorted(raw):
        info = raw[path]
        if info.get("type") == "directory":
            continue
        rel = path[len(base) + 1 :] if base and path.startswith(base + "/") else path
        if partitioned and is_ignored(rel):
            ignored += 1
            continue
        parts = hive_partitions(rel) if partitioned else ()
        entries.append(FileEntry(path, int(info.get("size") or 0), _version(info), parts))
    if not entries:
        raise InputDataError(
            f"Input '{handle.url}' holds no data file: expected Parquet files, found "
            f"{ignored} bookkeeping file(s) only (names starting with '_' or '.', or '*.crc')."
        )
    logger.debug("Input %s: %d file(s), %d bookkeeping file(s) ignored", handle.url,
                 len(entries), ignored)
    return entries


def fingerprint(entries: list[FileEntry], protocol: str | tuple) -> str:
    """A SHA-256 of the files' paths, sizes and versions (ETag or mtime).

    Changes when a file is added, removed, resized or rewritten; costs no read.
    """
    h = hashlib.sha256(repr(protocol).encode())
    for e in entries:
        h.update(f"\0{e.path}\0{e.size}\0{e.version}".encode())
    return h.hexdigest()
