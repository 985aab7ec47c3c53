"""Data for the mini-batch tests: blobs, Parquet folders read as Dask arrays, counted reads."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import cloudpickle
import dask.array as da
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from dask.base import tokenize
from sklearn.datasets import make_blobs

from dkmeans.io import read_parquet_dataset


def blobs(n, d, k, *, seed=0, dtype=np.float32):
    """``make_blobs`` rows (n, d) around ``k`` centres, in ``dtype``."""
    X, _ = make_blobs(n_samples=n, n_features=d, centers=k, random_state=seed)
    return X.astype(dtype)


def write_parquet(folder, X, rows_per_file):
    """One Parquet file per ``rows_per_file`` rows, columns ``f0..f{d-1}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, X.shape[0], rows_per_file)):
        block = X[start: start + rows_per_file]
        table = pa.table({f"f{j}": block[:, j] for j in range(X.shape[1])})
        pq.write_table(table, folder / f"part-{i:05d}.parquet")
    return folder


def parquet_array(folder):
    """The folder's features as dkmeans reads them: a lazy Dask array, one chunk per file
    here (small files), lengths from the footers only."""
    return read_parquet_dataset(str(folder)).features


class ReadCounter:
    """Counts chunk reads of :func:`counted_array` (in-process schedulers only)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reads = []

    def __call__(self, X, i, start, stop):
        with self.lock:
            self.reads.append(i)
        return np.array(X[start:stop])


def counted_array(X, chunk_rows, counter):
    """A non-persisted Dask array over ``X`` whose every chunk read calls ``counter``."""
    bounds = list(range(0, X.shape[0], chunk_rows)) + [X.shape[0]]
    name = "counted-read-" + tokenize(X, chunk_rows, id(counter))
    dsk = {(name, i, 0): (counter, X, i, a, b)
           for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))}
    chunks = (tuple(b - a for a, b in zip(bounds[:-1], bounds[1:])), (X.shape[1],))
    return da.Array(dsk, name, chunks=chunks, dtype=X.dtype)


# worker processes cannot import this test module: ship its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])
