"""``read_parquet_dataset``: from a URL to a :class:`~dkmeans.io.dataset.Dataset`, reading footers only.

The client lists the files, reads each footer (row counts, row groups, schema), checks every
file against the chosen columns, plans chunks and builds the features array. No row data is
read here, except for one pass over the filter columns when row filters use columns that are
not Hive partition keys (filters on partition keys prune whole files from their paths).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import dask.array as da
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from dkmeans.errors import InputDataError, StorageError, UserInputError
from dkmeans.io import schema
from dkmeans.io.chunk_read import (
    ChunkReader,
    FeatureTask,
    filter_expression,
    normalize_filters,
    run_feature_task,
)
from dkmeans.io.chunks import ChunkSource, group_row_groups
from dkmeans.io.dataset import Dataset
from dkmeans.io.listing import FileEntry, fingerprint, list_input_files
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

READ_PREFIX = "dkmeans-read-parquet"
COUNT_PREFIX = "dkmeans-count-filtered-rows"
_DTYPES = ("float32", "float64")


def read_parquet_dataset(
    url: str,
    *,
    features: Sequence[str] | None = None,
    id_columns: Sequence[str] = (),
    storage_options: dict[str, Any] | None = None,
    filters: list | None = None,
    dtype: str = "float32",
    target_chunk_bytes: int = 128 * 2**20,
) -> Dataset:
    """Open Parquet data as a chunked features array, reading only metadata.

    Parameters
    ----------
    url : str
        A Parquet file, a folder (Spark/DuckDB/Hive layout: ``key=value`` partition folders;
        ``_``/``.``-prefixed and ``*.crc`` files ignored), a glob, or ``s3://bucket/prefix``.
    features : sequence of str, optional
        Feature columns. Default: every numeric column of the first non-empty file except the
        id columns and Hive partition keys (see :mod:`dkmeans.io.schema` for the type rules).
    id_columns : sequence of str, default ()
        Columns carried to the label output next to each row's label.
    storage_options : dict, optional
        Passed to :func:`fsspec.core.url_to_fs` unchanged; never logged or written.
    filters : list, optional
        Row filters in pyarrow's DNF form, e.g. ``[("country", "=", "FR")]``. Filters on
        partition keys skip files without reading them; filters on other columns cost one read
        of those columns, to know the chunk lengths.
    dtype : {"float32", "float64"}, default "float32"
        Type of the features array.
    target_chunk_bytes : int, default 128 MiB
        Consecutive row groups of a file are grouped into one chunk while the chunk's features
        take at most this many bytes in memory.

    Returns
    -------
    Dataset
        ``features`` of shape (n_rows, n_features) with known chunk lengths.

    Raises
    ------
    InputDataError
        The URL holds no file, a file is not Parquet, a column is missing or not numeric,
        or files disagree on the columns (each message names the file and column).
    UserInputError
        A parameter is malformed.
    StorageError
        Storage could not be read.
    """
    try:
        dtype_name = np.dtype(dtype).name
    except TypeError:
        dtype_name = None
    if dtype_name not in _DTYPES:
        raise UserInputError(f"The 'dtype' parameter must be 'float32' or 'float64'; got {dtype!r}.")
    dtype = dtype_name
    if not isinstance(target_chunk_bytes, int) or target_chunk_bytes <= 0:
        raise UserInputError(
            f"The 'target_chunk_bytes' parameter must be a positive integer; got {target_chunk_bytes!r}."
        )
    if features is not None and not schema.check_names(features, "features"):
        raise UserInputError("The 'features' parameter must name at least one column; got [].")
    schema.check_names(id_columns, "id_columns")
    handle = StorageHandle(url, storage_options)
    dnf, filter_cols = normalize_filters(filters)
    entries = list_input_files(handle)
    part_types = schema.partition_types(e.partitions for e in entries)
    reader = ChunkReader(handle, dnf, filter_cols, part_types)
    if dnf is not None and set(filter_cols) <= set(part_types):
        entries = [e for e in entries if _partition_passes(e, reader)]
        if not entries:
            logger.warning("Input %s: the filters on partition keys leave no file", url)
    footers = _read_footers(handle, entries)
    names, ids, id_types = _choose_columns(handle, entries, footers, part_types,
                                           features=features, id_columns=id_columns,
                                           filter_cols=filter_cols)
    row_bytes = len(names) * np.dtype(dtype).itemsize
    chunks = _plan_chunks(handle, entries, footers, part_types, row_bytes, target_chunk_bytes)
    if dnf is not None and not set(filter_cols) <= set(part_types):
        chunks = _count_filtered(reader, chunks)
    fp = fingerprint(entries, (handle.fs.protocol, dnf))
    array = _features_array(reader, chunks, names, dtype, fp)
    n_rows = sum(c.n_rows for c in chunks)
    logger.info("Input %s: %d file(s), %d row(s) in %d chunk(s), %d feature(s) %s",
                url, len(entries), n_rows, len(chunks), len(names), names)
    return Dataset(features=array, feature_names=names, id_columns=ids, chunks=chunks,
                   n_rows=n_rows, fingerprint=fp, files=entries, url=url, reader=reader,
                   id_types=id_types)


def _partition_passes(entry: FileEntry, reader: ChunkReader) -> bool:
    values = dict(schema.typed_partition_values(entry.partitions, reader.part_types))
    row = pa.table({k: pa.array([values.get(k)], t) for k, t in reader.part_types.items()})
    return row.filter(filter_expression(reader.filters)).num_rows > 0


def _read_footer(handle: StorageHandle, entry: FileEntry) -> pq.FileMetaData | None:
    source = handle.to_url(entry.path)
    if entry.size == 0:
        logger.warning("Input file %s is empty (0 bytes): no rows taken from it", source)
        return None
    try:
        if handle.is_local:
            return pq.read_metadata(entry.path)
        with handle.fs.open(entry.path, "rb") as f:
            return pq.read_metadata(f)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputDataError(f"Input file {source} is not a readable Parquet file: {exc}") from exc
    except OSError as exc:
        if _is_corrupt_parquet(exc):
            raise InputDataError(
                f"Input file {source} is not a readable Parquet file (corrupt footer): {exc}"
            ) from exc
        raise StorageError(f"Reading the footer of {source} failed: {exc}") from exc
    except Exception as exc:  # botocore's connection errors are not OSError
        raise StorageError(
            f"Reading the footer of {source} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _is_corrupt_parquet(exc: OSError) -> bool:
    """pyarrow reports undecodable metadata as OSError; tell it from a storage failure."""
    text = str(exc).lower()
    return any(sign in text for sign in ("thrift", "magic bytes", "parquet file size",
                                         "corrupt", "invalid parquet"))


def _read_footers(handle: StorageHandle, entries: list[FileEntry]) -> list:
    if handle.is_local or len(entries) < 2:
        return [_read_footer(handle, e) for e in entries]
    with ThreadPoolExecutor(max_workers=min(16, len(entries))) as pool:
        return list(pool.map(lambda e: _read_footer(handle, e), entries))


def _choose_columns(handle, entries, footers, part_types, *, features, id_columns, filter_cols):
    """Pick columns from the first file with rows and check every file against them."""
    present = [i for i, md in enumerate(footers) if md is not None]
    if not present:
        raise InputDataError(f"Input '{handle.url}' holds only empty (0-byte) files.")
    ref = next((i for i in present if footers[i].num_rows > 0), present[0])
    ref_cols = schema.columns_of(footers[ref].schema.to_arrow_schema(), part_types)
    ref_source = handle.to_url(entries[ref].path)
    names, ids = schema.select_columns(ref_cols, part_types, features=features,
                                       id_columns=id_columns, source=ref_source)
    for i in present:
        cols = schema.columns_of(footers[i].schema.to_arrow_schema(), part_types)
        schema.check_file(cols, features=names, id_columns=ids, filter_columns=filter_cols,
                          source=handle.to_url(entries[i].path))
    return names, ids, tuple(ref_cols[n] for n in ids)


def _plan_chunks(handle, entries, footers, part_types, row_bytes, target_bytes):
    chunks: list[ChunkSource] = []
    offset = 0
    for i, (entry, md) in enumerate(zip(entries, footers)):
        if md is None:
            continue
        rg_rows = [md.row_group(j).num_rows for j in range(md.num_row_groups)]
        parts = schema.typed_partition_values(entry.partitions, part_types)
        url = handle.to_url(entry.path)
        for rgs, n in group_row_groups(rg_rows, row_bytes=row_bytes, target_bytes=target_bytes):
            chunks.append(ChunkSource(entry.path, url, rgs, n, offset, i, parts))
            offset += n
    return chunks


def _count_filtered(reader: ChunkReader, chunks: list[ChunkSource]) -> list[ChunkSource]:
    """Count the rows passing the filters in every chunk (one read of the filter columns)."""
    name = f"{COUNT_PREFIX}-{tokenize([(c.path, c.row_groups) for c in chunks], reader.filters)}"
    tasks = [
        dask.delayed(ChunkReader.count_rows, pure=True)(reader, c, dask_key_name=(name, i))
        for i, c in enumerate(chunks)
    ]
    counts = dask.compute(*tasks)
    out, offset = [], 0
    for c, n in zip(chunks, counts):
        if n:
            out.append(ChunkSource(c.path, c.url, c.row_groups, int(n), offset, c.file_index,
                                   c.partitions))
            offset += int(n)
    return out


def _features_array(reader, chunks, names, dtype, fp) -> da.Array:
    d = len(names)
    meta = np.empty((0, d), dtype=dtype)
    if not chunks:
        return da.from_array(meta, chunks=((0,), (d,)))
    token = tokenize(fp, names, dtype, reader.filters,
                     [(c.path, c.row_groups, c.n_rows) for c in chunks])
    name = f"{READ_PREFIX}-{token}"
    dsk = {
        (name, i, 0): (run_feature_task, FeatureTask(reader, c, tuple(names), dtype))
        for i, c in enumerate(chunks)
    }
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    return da.Array(graph, name, chunks=(tuple(c.n_rows for c in chunks), (d,)), dtype=dtype,
                    meta=meta)
