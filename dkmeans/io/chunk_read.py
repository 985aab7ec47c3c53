"""Reading one chunk: the code that runs inside Dask tasks, on the workers.

Each task opens one file, reads only the row groups of its chunk and only the columns it needs
(local files through pyarrow directly; remote ones through :func:`fsspec.parquet.open_parquet_file`,
which fetches exactly those byte ranges in a few requests), adds Hive partition keys as
constant columns and applies the row filter. Task arguments are wrapped in frozen dataclasses
so that Dask never mistakes a column name for a task key, and so that their ``repr`` (printed by
distributed when a task fails) shows paths but never storage options.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import fsspec.parquet
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dkmeans.errors import InputDataError, StorageError, UserInputError
from dkmeans.io.chunks import ChunkSource
from dkmeans.io.storage import StorageHandle

logger = logging.getLogger(__name__)

#: Rows converted at a time from Arrow columns to the row-major features block.
_TRANSPOSE_ROWS = 8192


def normalize_filters(filters) -> tuple[tuple | None, tuple[str, ...]]:
    """Check row filters in pyarrow's DNF form and list the columns they use.

    Parameters
    ----------
    filters : list of tuple, list of list of tuple, or None
        ``[("col", op, value), ...]`` (all must hold) or a list of such lists (any must
        hold), as :func:`pyarrow.parquet.read_table` takes them.

    Returns
    -------
    filters : tuple of tuple of tuple, or None
        The disjunction of conjunctions, as nested tuples.
    columns : tuple of str
        The columns the filters use, in order of first use.
    """
    if filters is None:
        return None, ()
    if not isinstance(filters, (list, tuple)) or not filters:
        raise UserInputError(
            f"The 'filters' parameter must be a non-empty list of (column, op, value) tuples "
            f"or a list of such lists; got {filters!r}."
        )
    # One conjunction of terms, or a list of conjunctions; terms may be lists (as YAML gives).
    dnf = [filters] if all(_is_term(t) for t in filters) else list(filters)
    out, cols = [], []
    for conj in dnf:
        terms = []
        for term in conj:
            if not isinstance(term, (list, tuple)) or len(term) != 3 or not isinstance(term[0], str):
                raise UserInputError(
                    f"Each filter must be a (column, op, value) tuple; got {term!r} in 'filters'."
                )
            terms.append((term[0], term[1], tuple(term[2]) if isinstance(term[2], list) else term[2]))
            if term[0] not in cols:
                cols.append(term[0])
        out.append(tuple(terms))
    try:
        filter_expression(tuple(out))
    except Exception as exc:
        raise UserInputError(f"The 'filters' parameter is not valid: {exc}") from exc
    return tuple(out), tuple(cols)


def _is_term(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) == 3 and isinstance(x[0], str) and isinstance(
        x[1], str)


def filter_expression(filters: tuple) -> pc.Expression:
    """The pyarrow expression of filters normalised by :func:`normalize_filters`."""
    return pq.filters_to_expression(
        [[(c, op, list(v) if isinstance(v, tuple) else v) for c, op, v in conj] for conj in filters]
    )


@dataclass(frozen=True)
class ChunkReader:
    """What every read task of one dataset shares: where the files are and how rows are kept.

    Attributes
    ----------
    handle : StorageHandle
        The input location; its options reach the workers but never a ``repr``.
    filters : tuple or None
        Row filters from :func:`normalize_filters`.
    filter_columns : tuple of str
        Columns the filters use.
    part_types : dict of str to pyarrow.DataType
        Arrow type of every Hive partition key.
    """

    handle: StorageHandle
    filters: tuple | None = None
    filter_columns: tuple[str, ...] = ()
    part_types: dict = field(default_factory=dict)

    def read_table(self, chunk: ChunkSource, columns: Sequence[str], *, expect_rows: bool = True
                   ) -> pa.Table:
        """Read ``columns`` (file columns and partition keys) of one chunk, filters applied.

        Parameters
        ----------
        chunk : ChunkSource
        columns : sequence of str
        expect_rows : bool, default True
            Check the row count against ``chunk.n_rows`` (False while counting).

        Returns
        -------
        pyarrow.Table
            Exactly ``columns``, in order, ``chunk.n_rows`` rows.
        """
        parts = dict(chunk.partitions)
        wanted = list(dict.fromkeys([*columns, *self.filter_columns]))
        try:
            table = self._read_file(chunk, wanted, parts)
        except (InputDataError, StorageError):
            raise
        except Exception as exc:
            raise StorageError(
                f"Reading {chunk.describe()} failed: {type(exc).__name__}: {exc}"
            ) from exc
        for name in wanted:
            if name not in table.column_names and name in parts:
                value = pa.scalar(parts[name], self.part_types[name])
                table = table.append_column(name, pa.repeat(value, table.num_rows))
        if self.filters is not None:
            table = table.filter(filter_expression(self.filters))
        if expect_rows and table.num_rows != chunk.n_rows:
            raise StorageError(
                f"Reading {chunk.describe()} gave {table.num_rows} rows; its metadata said "
                f"{chunk.n_rows}. Did the input change while the job ran?"
            )
        return table.select(list(columns))

    def _read_file(self, chunk: ChunkSource, wanted: list[str], parts: dict) -> pa.Table:
        rgs = list(chunk.row_groups)
        file_cols = [c for c in wanted if c not in parts]
        if not file_cols:
            # Nothing to read from the file (no id columns, or only partition keys). Filters
            # then use partition keys only, so the chunk's row count is the file's, known.
            return pa.table({"_": pa.nulls(chunk.n_rows)}).drop_columns(["_"])
        if self.handle.is_local:
            with pq.ParquetFile(chunk.path) as pf:
                return pf.read_row_groups(rgs, columns=file_cols)
        with fsspec.parquet.open_parquet_file(
            chunk.path, fs=_RangesRaise(self.handle.fs), columns=file_cols, row_groups=rgs,
            engine="pyarrow",
        ) as f, pq.ParquetFile(f) as pf:
            return pf.read_row_groups(rgs, columns=file_cols)

    def read_features(self, chunk: ChunkSource, names: Sequence[str], dtype: str) -> np.ndarray:
        """One chunk's features as an array.

        Returns
        -------
        ndarray of shape (chunk.n_rows, len(names)), C order, of ``dtype``
            Nulls become NaN.
        """
        table = self.read_table(chunk, names)
        return table_to_matrix(table, names, np.dtype(dtype), source=chunk.url)

    def count_rows(self, chunk: ChunkSource) -> int:
        """Rows of the chunk that pass the filters (reads the filter columns only)."""
        return self.read_table(chunk, self.filter_columns, expect_rows=False).num_rows


class _RangesRaise:
    """A filesystem whose ``cat_ranges`` raises the first failed range's error.

    fsspec's ``cat_ranges`` returns a failed range's exception in place of its bytes
    (``on_error="return"``), and :func:`fsspec.parquet.open_parquet_file` then slices it as
    bytes: a storage failure that outlasted the client's retries would surface as an
    unrelated ``TypeError``. Everything else is the wrapped filesystem's.
    """

    def __init__(self, fs):
        self._fs = fs

    def cat_ranges(self, paths, starts, ends, **kwargs):
        return self._fs.cat_ranges(paths, starts, ends, **{**kwargs, "on_error": "raise"})

    def __getattr__(self, name):
        return getattr(self._fs, name)


def table_to_matrix(table: pa.Table, names: Sequence[str], dtype: np.dtype, *, source: str
                    ) -> np.ndarray:
    """Stack numeric Arrow columns into a float array.

    Parameters
    ----------
    table : pyarrow.Table
    names : sequence of str
        Columns to stack, in order.
    dtype : numpy.dtype
        ``float32`` or ``float64``.
    source : str
        The file, for messages.

    Returns
    -------
    ndarray of shape (table.num_rows, len(names))
        Nulls become NaN; booleans 0.0 and 1.0; integers and decimals are cast unchecked.
    """
    target = pa.from_numpy_dtype(dtype)
    cols = []
    for name in names:
        col = table.column(name)
        try:
            if col.type != target:
                col = pc.cast(col, target, safe=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputDataError(
                f"Feature column '{name}' in {source} has type {table.column(name).type}, "
                f"which cannot be read as {dtype}: {exc}"
            ) from exc
        if col.null_count:
            col = pc.fill_null(col, np.nan)
        cols.append(col)
    n = table.num_rows
    out = np.empty((n, len(names)), dtype=dtype)
    # Columns to rows block by block: each block of the output stays in cache while its
    # columns are written (3-4x faster than writing whole strided columns).
    for start in range(0, n, _TRANSPOSE_ROWS):
        stop = min(n, start + _TRANSPOSE_ROWS)
        block = out[start:stop]
        for j, col in enumerate(cols):
            block[:, j] = col.slice(start, stop - start).to_numpy()
    return out


@dataclass(frozen=True)
class FeatureTask:
    """The argument of one ``dkmeans-read-parquet`` task."""

    reader: ChunkReader
    chunk: ChunkSource
    names: tuple[str, ...]
    dtype: str

    def __call__(self) -> np.ndarray:
        return self.reader.read_features(self.chunk, self.names, self.dtype)


def run_feature_task(task: FeatureTask) -> np.ndarray:
    """Run a :class:`FeatureTask` (the callable of the graph's tasks)."""
    return task()


@dataclass(frozen=True)
class IdSource:
    """How to read one chunk's id columns, in the dataset's id types (run by writer tasks)."""

    reader: ChunkReader
    chunk: ChunkSource
    columns: tuple[str, ...]
    types: tuple[pa.DataType, ...]

    def read(self) -> pa.Table:
        """The id columns of the chunk.

        Returns
        -------
        pyarrow.Table
            ``chunk.n_rows`` rows, the id columns in order, each cast to the type it has in
            the dataset's reference file (so every label part has the same schema).
        """
        table = self.reader.read_table(self.chunk, self.columns)
        arrays = []
        for name, t in zip(self.columns, self.types):
            col = table.column(name)
            if col.type != t:
                try:
                    col = pc.cast(col, t)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InputDataError(
                        f"Id column '{name}' in {self.chunk.url} has type {col.type}; expected "
                        f"{t} as in the first file: {exc}"
                    ) from exc
            arrays.append(col)
        return pa.table(arrays, names=list(self.columns)) if arrays else table
