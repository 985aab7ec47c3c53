"""Nearest-centre assignment and distances for one chunk, in cache-sized row blocks."""

from __future__ import annotations

import numpy as np

from dkmeans.kernels._compiled import improve_nearest, row_sq_norms
from dkmeans.kernels.partials import aligned_blocks, block_rows_for, products_by_row
from dkmeans.kernels.scratch import thread_scratch

#: Fewest rows per block when measuring distances to new centres.
NEAREST_MIN_ROWS = 2048


def _prepare(X, centers, shift):
    X = np.ascontiguousarray(X)
    dtype = X.dtype
    centers64 = np.asarray(centers, dtype=np.float64)
    shift64 = np.zeros(X.shape[1]) if shift is None else np.asarray(shift, dtype=np.float64)
    centered = centers64 - shift64
    return X, dtype, shift64, centered


def nearest_centers(X, centers, *, shift=None, best_d2=None, best_idx=None, offset=0,
                    row_norms=None):
    """Index of and squared distance to the nearest centre of every row.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    centers : ndarray of shape (c, d)
        Centres in the same (uncentred) coordinates as ``X``.
    shift : ndarray of shape (d,), optional
        Point subtracted from rows and centres before the expansion, to avoid cancellation;
        typically the data mean. Default: the origin.
    best_d2 : ndarray of shape (n,), float64, optional
        Distances to earlier centres, to be improved on (updated in place); default ``inf``.
    best_idx : ndarray of shape (n,), int64, optional
        Indices matching ``best_d2`` (updated in place).
    offset : int, default 0
        Index given to ``centers[0]`` among all centres (for incremental updates).
    row_norms : ndarray of shape (n,), float64, optional
        ``|x - shift|^2`` of every row, if already known (filled in if given empty: pass
        ``np.full(n, np.nan)`` to have it computed and kept).

    Returns
    -------
    best_idx : ndarray of shape (n,), int64
    best_d2 : ndarray of shape (n,), float64
    """
    X, dtype, shift64, centered = _prepare(X, centers, shift)
    n, d = X.shape
    if best_d2 is None:
        best_d2 = np.full(n, np.inf)
        best_idx = np.zeros(n, dtype=np.int64)
    c = centered.shape[0]
    flat = np.ascontiguousarray(centered, dtype=dtype)
    terms = np.einsum("ij,ij->i", centered, centered) + 2.0 * (centered @ shift64)
    shift_x = shift64.astype(dtype)
    # many candidates (k-means|| rounds measure 2k at a time) make the dot products of a
    # cache-sized block few rows tall; they are read once, so a taller block costs little and
    # keeps the BLAS product efficient (K of `make bench`: about 25% faster per pass)
    block = max(block_rows_for(d, c, dtype.itemsize), min(NEAREST_MIN_ROWS, n))
    by_row = products_by_row(d, c)
    products = thread_scratch("nearest-products", (c * block,), dtype)
    xn = np.empty(block)
    xc = thread_scratch("nearest-centred", (block, d), dtype)
    known = row_norms is not None and n > 0 and not np.isnan(row_norms[0])
    for start, stop, rows in aligned_blocks(X, block):
        b = stop - start
        # C-contiguous views of the buffer, laid out as products_by_row says
        if by_row:
            dot = np.matmul(rows, flat.T, out=products[: b * c].reshape(b, c))
        else:
            dot = np.matmul(flat, rows.T, out=products[: c * b].reshape(c, b))
        if known:
            norms = row_norms[start:stop]
        else:
            np.subtract(rows, shift_x, out=xc[:b])
            row_sq_norms(xc[:b], xn[:b])
            norms = xn[:b]
            if row_norms is not None:
                row_norms[start:stop] = norms
        improve_nearest(dot, terms, norms, offset, best_d2[start:stop], best_idx[start:stop],
                        by_row)
    return best_idx, best_d2


def squared_distances(X, centers, *, shift=None):
    """Squared Euclidean distances from every row to every centre.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    centers : ndarray of shape (k, d)
    shift : ndarray of shape (d,), optional
        As in :func:`nearest_centers`.

    Returns
    -------
    ndarray of shape (n, k), float64
    """
    X, dtype, shift64, centered = _prepare(X, centers, shift)
    xc = X.astype(np.float64) - shift64
    d2 = (np.einsum("ij,ij->i", xc, xc)[:, None] - 2.0 * (xc @ centered.T)
          + np.einsum("ij,ij->i", centered, centered)[None, :])
    return np.maximum(d2, 0.0, out=d2)
