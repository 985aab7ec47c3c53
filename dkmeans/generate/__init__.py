"""Synthetic and sample Parquet datasets for demos, benchmarks and tests.

- :func:`generate_blobs` writes Gaussian blobs (scikit-learn's ``make_blobs``, at any size) as
  ``part-NNNNN.parquet`` files, each file written by one Dask task (``dkmeans-generate-*``);
  it lives in :mod:`dkmeans.generate.blobs`, with :func:`blob_centers` and the row drawing.
- :func:`generate_digits` writes scikit-learn's handwritten digits as one Parquet file
  (:mod:`dkmeans.generate.digits`).

Both write through fsspec (``storage_options`` are passed unchanged and never logged) and never
show a half-written dataset: files are written under a ``_dkmeans-generate-<token>/`` folder
inside the target (invisible to readers, which skip ``_``-prefixed names) and moved into place
once every file is complete; a failure removes that folder and leaves the target as it was.
That protocol is :mod:`dkmeans.generate.staging`.

Determinism
-----------
The data depends only on the parameters, never on the number of workers, the scheduling order
or ``rows_per_file``. Rows are drawn in fixed blocks of :data:`BLOCK_ROWS` rows, block ``b``
from a generator seeded with ``numpy.random.SeedSequence(seed, spawn_key=(1, b))``; the centres
from ``spawn_key=(0,)``. A file takes the rows of the blocks it overlaps, so the same seed gives
the same table whatever the file layout, and the same Parquet bytes for the same layout (with
the same pyarrow). The first ``n`` rows of a dataset do not depend on ``rows``.
"""

from __future__ import annotations

from dkmeans.generate.blobs import BLOCK_ROWS, blob_centers, generate_blobs
from dkmeans.generate.digits import generate_digits

__all__ = ["BLOCK_ROWS", "blob_centers", "generate_blobs", "generate_digits"]
