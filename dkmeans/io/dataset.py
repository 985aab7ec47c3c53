"""The dataset handed to the engine: features as a chunked Dask array, plus where each chunk lives."""

from __future__ import annotations

from dataclasses import dataclass, field

import dask.array as da
import pyarrow as pa

from dkmeans.io.chunk_read import ChunkReader, IdSource
from dkmeans.io.chunks import ChunkSource
from dkmeans.io.listing import FileEntry


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features read lazily from Parquet, with the id columns and provenance of every chunk.

    Built by :func:`dkmeans.io.read_parquet_dataset`; nothing is read until the features array
    is computed.

    Attributes
    ----------
    features : dask.array.Array of shape (n_rows, n_features)
        One block per chunk (``features.chunks[0]`` are the chunk lengths, known from Parquet
        metadata), one block across the feature axis; ``dtype`` float32 or float64; nulls read
        as NaN. Task names start with ``dkmeans-read-parquet``.
    feature_names : list of str
        Column of each feature, in order.
    id_columns : list of str
        Columns carried through to the label output (read by :meth:`read_ids`).
    chunks : list of ChunkSource
        One per block of ``features``, in row order; only chunks with rows.
    n_rows : int
        Total rows (after filters).
    fingerprint : str
        SHA-256 of the input files' paths, sizes and versions (ETag or mtime); changes when
        the input does.
    files : list of FileEntry
        Every input file, including those without rows.
    url : str
        The input URL as given.
    """

    features: da.Array
    feature_names: list[str]
    id_columns: list[str]
    chunks: list[ChunkSource]
    n_rows: int
    fingerprint: str
    files: list[FileEntry] = field(repr=False)
    url: str = ""
    reader: ChunkReader = field(default=None, repr=False)
    id_types: tuple[pa.DataType, ...] = field(default=(), repr=False)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return len(self.feature_names)

    @property
    def dtype(self):
        """The features' NumPy dtype."""
        return self.features.dtype

    @property
    def n_chunks(self) -> int:
        """Number of chunks (blocks of :attr:`features`, label parts on output)."""
        return len(self.chunks)

    def id_source(self, chunk_index: int) -> IdSource:
        """A picklable description of how to read one chunk's ids (for writer tasks)."""
        return IdSource(self.reader, self.chunks[chunk_index], tuple(self.id_columns),
                        tuple(self.id_types))

    def read_ids(self, chunk_index: int) -> pa.Table:
        """Read the id columns of one chunk.

        Parameters
        ----------
        chunk_index : int
            Index into :attr:`chunks`.

        Returns
        -------
        pyarrow.Table
            ``chunks[chunk_index].n_rows`` rows and the :attr:`id_columns` (no columns when
            there are no id columns), in the same row order as the features block.
        """
        return self.id_source(chunk_index).read()

    def source_of_chunk(self, i: int) -> str:
        """Describe chunk ``i`` for messages: file, row groups and global row range."""
        return self.chunks[i].describe()

    def __repr__(self) -> str:
        return (
            f"Dataset(url={self.url!r}, n_rows={self.n_rows}, n_features={self.n_features}, "
            f"n_chunks={self.n_chunks}, n_files={len(self.files)}, dtype={self.dtype}, "
            f"feature_names={self.feature_names!r}, id_columns={self.id_columns!r})"
        )
