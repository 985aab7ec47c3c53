"""Labels and distances of every row for a fitted model, as lazy Dask arrays.

Rows with zero weight (skipped for NaN/inf) get the label -1 (written as null) and a NaN
distance, so every input row has an output row.
"""

from __future__ import annotations

import numpy as np

from dkmeans.kernels.distances import nearest_centers


def _assign_block(x, w, centers, shift):
    labels, d2 = nearest_centers(x, centers, shift=shift)
    out = np.empty((x.shape[0], 2), dtype=np.float64)
    out[:, 0] = labels
    out[:, 1] = np.sqrt(d2)
    if w is not None:
        skipped = np.asarray(w).reshape(-1) <= 0
        out[skipped, 0] = -1
        out[skipped, 1] = np.nan
    return out


def assign(X, weights, centers, shift):
    """Labels (int32, -1 for skipped rows) and Euclidean distances (float32).

    Parameters
    ----------
    X : dask.array.Array of shape (n, d)
    weights : dask.array.Array of shape (n,) or None
    centers : ndarray of shape (k, d)
    shift : ndarray of shape (d,)
        Reference point for the distance expansion (the data mean).

    Returns
    -------
    labels : dask.array.Array of shape (n,), int32
    distances : dask.array.Array of shape (n,), float32
    both : dask.array.Array of shape (n, 2), float64
        The array both are sliced from; persist it to compute the assignment once.
    """
    import dask.array as da

    centers = np.asarray(centers, dtype=np.float64)
    if weights is None:
        both = X.map_blocks(_assign_block, None, centers, shift, dtype=np.float64,
                            chunks=(X.chunks[0], (2,)), token="dkmeans-assign")
    else:
        both = da.map_blocks(_assign_block, X, weights[:, None], centers, shift,
                             dtype=np.float64, chunks=(X.chunks[0], (2,)),
                             token="dkmeans-assign")
    return both[:, 0].astype(np.int32), both[:, 1].astype(np.float32), both


def _sizes_block(labels, k):
    valid = labels[labels >= 0]
    return np.bincount(valid, minlength=k)[None, :]


def cluster_sizes(labels, k):
    """Rows per cluster, ndarray of shape (k,), int64 (one reduction over the labels)."""
    per_chunk = labels.map_blocks(_sizes_block, k, dtype=np.int64, new_axis=1,
                                  chunks=(tuple(1 for _ in labels.chunks[0]), (k,)),
                                  token="dkmeans-cluster-sizes")
    return per_chunk.sum(axis=0)
