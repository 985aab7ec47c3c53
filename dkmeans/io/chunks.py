"""Chunks of a dataset: runs of consecutive row groups of one file, planned from metadata only.

A chunk is the unit of everything downstream: one block of the features array, one Dask task
per pass, one ``labels/part-NNNNN.parquet`` on output. Chunks never span files (a task opens one
file) and follow row-group boundaries (Parquet's unit of reading), grouping consecutive row
groups until the chunk's features would exceed a target number of bytes in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dkmeans.errors import UserInputError


@dataclass(frozen=True)
class ChunkSource:
    """Where one chunk's rows come from.

    Attributes
    ----------
    path : str
        File path on the input filesystem (protocol stripped).
    url : str
        The same file as a URL, for messages (``s3://bucket/key`` or a local path).
    row_groups : tuple of int
        Indices of the Parquet row groups read, in file order; empty row groups left out.
    n_rows : int
        Rows of the chunk (after filters, if any), > 0.
    row_offset : int
        Global index of the chunk's first row in the dataset.
    file_index : int
        Index of the file in :attr:`dkmeans.io.dataset.Dataset.files`.
    partitions : tuple of (str, object)
        Hive partition keys and typed values of the file.
    """

    path: str
    url: str
    row_groups: tuple[int, ...]
    n_rows: int
    row_offset: int
    file_index: int
    partitions: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        """A short text naming the file, row groups and global rows, for messages."""
        rg = self.row_groups
        groups = f"row group {rg[0]}" if len(rg) == 1 else f"row groups {rg[0]}-{rg[-1]}"
        end = self.row_offset + self.n_rows
        return f"{self.url} ({groups}; dataset rows {self.row_offset}-{end - 1})"


def group_row_groups(
    row_group_rows: Sequence[int], *, row_bytes: int, target_bytes: int
) -> list[tuple[tuple[int, ...], int]]:
    """Group one file's row groups into chunks.

    Parameters
    ----------
    row_group_rows : sequence of int
        Rows in each row group of the file, from its footer.
    row_bytes : int
        Bytes one row's features take in memory (``n_features * itemsize``).
    target_bytes : int
        A chunk takes row groups while its features stay within this size; a single row group
        larger than the target makes a chunk on its own.

    Returns
    -------
    list of (row group indices, n_rows)
        Empty row groups are left out; a file with no rows gives an empty list.

    Examples
    --------
    >>> group_row_groups([10, 0, 10, 30], row_bytes=8, target_bytes=160)
    [((0, 2), 20), ((3,), 30)]
    """
    if target_bytes <= 0:
        raise UserInputError(
            f"The 'target_chunk_bytes' parameter must be a positive integer; got {target_bytes}."
        )
    chunks: list[tuple[tuple[int, ...], int]] = []
    current: list[int] = []
    rows = 0
    for i, n in enumerate(row_group_rows):
        if n == 0:
            continue
        if current and (rows + n) * row_bytes > target_bytes:
            chunks.append((tuple(current), rows))
            current, rows = [], 0
        current.append(i)
        rows += n
    if current:
        chunks.append((tuple(current), rows))
    return chunks
