"""Labels and distances of every row for a fitted model, as lazy Dask arrays; cluster sizes.

A Lloyd fit on Dask input already holds its labels and distances (see
:func:`dkmeans.dist.lloyd.final_pass`); :func:`assign` is for the other cases (mini-batch,
several restarts, a loaded model). Marking skipped rows is the caller's
(:func:`dkmeans.fitting.assignment`).
"""

from __future__ import annotations

import numpy as np

from dkmeans.kernels.distances import nearest_centers


def _assign_block(x, centers, shift):
    labels, d2 = nearest_centers(x, centers, shift=shift)
    out = np.empty((x.shape[0], 2), dtype=np.float64)
    out[:, 0] = labels
    out[:, 1] = np.sqrt(d2)
    return out


def assign(X, centers, shift):
    """Labels (int32) and Euclidean distances (float32) to the nearest centre.

    Parameters
    ----------
    X : dask.array.Array of shape (n, d)
    centers : ndarray of shape (k, d)
    shift : ndarray of shape (d,)
        Reference point for the distance expansion (the data mean).

    Returns
    -------
    labels : dask.array.Array of shape (n,), int32
    distances : dask.array.Array of shape (n,), float32
        Both are sliced from one per-chunk computation: compute or persist them together.
    """
    centers = np.asarray(centers, dtype=np.float64)
    both = X.map_blocks(_assign_block, centers, shift, dtype=np.float64,
                        chunks=(X.chunks[0], (2,)), token="dkmeans-assign")
    return both[:, 0].astype(np.int32), both[:, 1].astype(np.float32)


def _sizes_block(labels, k):
    valid = labels[labels >= 0]
    return np.bincount(valid, minlength=k)[None, :]


def cluster_sizes(labels, k):
    """Rows per cluster, ndarray of shape (k,), int64 (one reduction over the labels)."""
    per_chunk = labels.map_blocks(_sizes_block, k, dtype=np.int64, new_axis=1,
                                  chunks=(tuple(1 for _ in labels.chunks[0]), (k,)),
                                  token="dkmeans-cluster-sizes")
    return per_chunk.sum(axis=0)
