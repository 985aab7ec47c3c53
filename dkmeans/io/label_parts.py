"""Writing one label part: the code that runs inside ``dkmeans-write-labels`` tasks on the workers."""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dkmeans.errors import StorageError
from dkmeans.io.chunk_read import IdSource
from dkmeans.io.storage import StorageHandle

LABELS_DIR = "labels"


def part_name(index: int) -> str:
    """``labels/part-NNNNN.parquet`` for chunk ``index`` (five digits, more when needed)."""
    return f"{LABELS_DIR}/part-{index:05d}.parquet"


@dataclass(frozen=True)
class PartInfo:
    """A label part written (staged or published).

    Attributes
    ----------
    path : str
        Path relative to the output root, e.g. ``labels/part-00003.parquet``.
    rows : int
    bytes : int
    """

    path: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class PartTask:
    """Everything one ``dkmeans-write-labels`` task needs besides its label block."""

    output: StorageHandle
    staging: str
    index: int
    ids: IdSource


def label_table(ids: pa.Table, labels: np.ndarray, distances: np.ndarray | None) -> pa.Table:
    """Assemble a label part: the id columns, ``cluster`` and optionally ``distance``.

    Parameters
    ----------
    ids : pyarrow.Table
        Id columns, ``n`` rows (may have no columns).
    labels : ndarray of shape (n,), integer
        Cluster of each row; negative (``-1``) marks a row left out of the fit.
    distances : ndarray of shape (n,) or None
        Distance of each row to its centre.

    Returns
    -------
    pyarrow.Table
        ``cluster`` int32 and ``distance`` float32, both null where the label is negative.
    """
    labels = np.asarray(labels)
    skipped = labels < 0
    mask = skipped if skipped.any() else None
    table = ids
    table = table.append_column("cluster", pa.array(labels.astype(np.int32, copy=False), mask=mask))
    if distances is not None:
        d = np.asarray(distances).astype(np.float32, copy=False)
        table = table.append_column("distance", pa.array(d, mask=mask))
    return table


def write_label_part(task: PartTask, labels: np.ndarray, distances: np.ndarray | None) -> PartInfo:
    """Read a chunk's ids, join its labels and write the staged part file.

    Parameters
    ----------
    task : PartTask
    labels : ndarray of shape (chunk rows,)
    distances : ndarray of shape (chunk rows,) or None

    Returns
    -------
    PartInfo
        With the part's path relative to the output root (not the staging folder).
    """
    chunk = task.ids.chunk
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != chunk.n_rows or (
        distances is not None and np.asarray(distances).reshape(-1).shape[0] != chunk.n_rows
    ):
        raise StorageError(
            f"Label block {task.index} has {labels.shape[0]} rows but chunk "
            f"{chunk.describe()} has {chunk.n_rows}; labels must follow the dataset's chunks."
        )
    if distances is not None:
        distances = np.asarray(distances).reshape(-1)
    table = label_table(task.ids.read(), labels, distances)
    rel = part_name(task.index)
    path = task.output.path(posixpath.join(task.staging, rel))
    fs = task.output.fs
    try:
        if task.output.is_local:
            # written aside, then renamed: a worker killed mid-write leaves no torn file under
            # the part's name, and a late duplicate of a retried task replaces it whole
            os.makedirs(posixpath.dirname(path), exist_ok=True)
            partial = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                pq.write_table(table, partial)
                size = os.path.getsize(partial)
                os.replace(partial, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(partial)
        else:
            with fs.open(path, "wb") as f:
                pq.write_table(table, f)
                size = f.tell()
    except Exception as exc:
        raise StorageError(
            f"Writing {task.output.to_url(path)} (labels of {chunk.describe()}) failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return PartInfo(rel, table.num_rows, int(size))
