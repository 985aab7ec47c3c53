"""Reading back the labels of a published output, trusting only its ``_SUCCESS`` manifest."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from dkmeans.errors import StorageError
from dkmeans.io.label_parts import LABELS_DIR
from dkmeans.io.manifest import read_manifest
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)


def read_labels(url: str, storage_options: dict | None = None, *,
                columns: Sequence[str] | None = None) -> pa.Table:
    """Read every label part listed in the manifest of a published output.

    Parameters
    ----------
    url : str
        The output root.
    storage_options : dict, optional
        Passed to fsspec unchanged.
    columns : sequence of str, optional
        Columns to read (default: all: the id columns, ``cluster`` and maybe ``distance``).

    Returns
    -------
    pyarrow.Table
        The parts concatenated in part order, which is the input's row order.

    Raises
    ------
    StorageError
        No ``_SUCCESS`` manifest, or a part whose row count differs from the manifest's.
    """
    manifest = read_manifest(url, storage_options)
    handle = StorageHandle(url, storage_options)
    parts = [f for f in manifest["files"] if f["path"].startswith(LABELS_DIR + "/")]
    tables = []
    for f in parts:
        path = handle.path(f["path"])
        try:
            with handle.fs.open(path, "rb") as fh:
                table = pq.read_table(fh, columns=None if columns is None else list(columns))
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"Reading {handle.to_url(path)} failed: {exc}") from exc
        if table.num_rows != f["rows"]:
            raise StorageError(
                f"{handle.to_url(path)} has {table.num_rows} rows; the manifest of '{url}' "
                f"says {f['rows']}. The output was changed after it was published."
            )
        tables.append(table)
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables)
