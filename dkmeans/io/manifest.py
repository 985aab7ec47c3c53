"""The ``_SUCCESS`` manifest: the one file that makes an output trusted.

A dkmeans output is published when its ``_SUCCESS`` file holds a JSON manifest listing every
file of the output with its size (and row count, for Parquet files). Readers trust a prefix only
through this file: a folder without it, or with a ``_SUCCESS`` that is not a dkmeans manifest
(Spark writes an empty one), is not a published dkmeans output.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from typing import Any

import numpy as np

from dkmeans.errors import StorageError
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

MANIFEST_NAME = "_SUCCESS"
FORMAT = "dkmeans-output"
FORMAT_VERSION = 1


def dkmeans_version() -> str:
    """The installed dkmeans version, or ``"unknown"`` when running from a bare checkout."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("dkmeans")
    except (ImportError, PackageNotFoundError):
        return "unknown"


def utc_now() -> str:
    """The current time, ISO 8601 in UTC with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy arrays and scalars (nested in dicts, lists, tuples) to JSON types.

    Non-finite floats become ``None`` so that the JSON stays standard.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any) -> bytes:
    """JSON bytes of ``obj`` (see :func:`to_jsonable`), indented, keys in given order."""
    try:
        return json.dumps(to_jsonable(obj), indent=2, allow_nan=False).encode() + b"\n"
    except TypeError as exc:
        raise StorageError(f"Cannot write as JSON: {exc}") from exc


def build_manifest(
    *,
    run_id: str,
    files: list[dict],
    input_fingerprint: str | None = None,
    config_hash: str | None = None,
    extra: dict | None = None,
) -> dict:
    """Assemble the manifest written to ``_SUCCESS``.

    Parameters
    ----------
    run_id : str
    files : list of dict
        ``{"path": relative path, "bytes": int, "rows": int or None}`` per file.
    input_fingerprint, config_hash : str, optional
    extra : dict, optional
        Caller's additions, stored under ``"extra"``.

    Returns
    -------
    dict
        ``format``, ``format_version``, ``run_id``, ``created_at``, ``dkmeans_version``,
        ``input_fingerprint``, ``config_hash``, ``total_rows`` (rows of the label parts),
        ``files`` sorted by path, ``extra``.
    """
    files = sorted(files, key=lambda f: f["path"])
    total = sum(f.get("rows") or 0 for f in files if f["path"].startswith("labels/"))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "created_at": utc_now(),
        "dkmeans_version": dkmeans_version(),
        "input_fingerprint": input_fingerprint,
        "config_hash": config_hash,
        "total_rows": total,
        "files": files,
        "extra": to_jsonable(extra or {}),
    }


def load_manifest(handle: StorageHandle) -> dict | None:
    """The manifest under ``handle``, or ``None`` when it has no dkmeans ``_SUCCESS``."""
    path = handle.path(MANIFEST_NAME)
    try:
        raw = handle.fs.cat_file(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # OSError, botocore errors, bad storage options (TypeError)
        raise StorageError(
            f"Reading {handle.to_url(path)} failed: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        manifest = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


def read_manifest(url: str, storage_options: dict | None = None) -> dict:
    """Read the manifest of a published output.

    Parameters
    ----------
    url : str
        The output's URL (the folder that holds ``_SUCCESS``).
    storage_options : dict, optional
        Passed to fsspec unchanged.

    Returns
    -------
    dict
        See :func:`build_manifest`.

    Raises
    ------
    StorageError
        When ``url`` holds no dkmeans ``_SUCCESS`` manifest (not published, or a failed run).
    """
    handle = StorageHandle(url, storage_options)
    handle.fs.invalidate_cache()
    manifest = load_manifest(handle)
    if manifest is None:
        raise StorageError(
            f"'{url}' is not a published dkmeans output: expected a {MANIFEST_NAME} file "
            "holding a dkmeans manifest, found none (the run failed or never published)."
        )
    return manifest


def is_published(url: str, storage_options: dict | None = None) -> bool:
    """Whether ``url`` holds a published dkmeans output (a ``_SUCCESS`` manifest)."""
    handle = StorageHandle(url, storage_options)
    handle.fs.invalidate_cache()
    return load_manifest(handle) is not None
