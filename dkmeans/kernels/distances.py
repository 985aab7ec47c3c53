"""Nearest-centre assignment and distances for one chunk, in cache-sized row blocks."""

from __future__ import annotations

import numpy as np

from dkmeans.kernels._compiled import (
    group_rows,
    improve_nearest,
    improve_nearest_grouped,
    nearest_chunk_lean,
    row_sq_norms,
)
from dkmeans.kernels.partials import (
    ROW_LAYOUT_BLOCK_BYTES,
    aligned_blocks,
    aligned_slabs,
    block_rows_for,
    products_by_row,
)
from dkmeans.kernels.scratch import thread_scratch

#: Rows measured only against the new centres that can come nearer (``earlier`` of
#: :func:`nearest_centers`) cost a gather and smaller BLAS products, so that is done only
#: where its estimated cost is at most this share of the full pass's.
PRUNED_WORK_SHARE = 0.5

#: Cost of grouping and gathering one row, in multiply-adds of the full pass (``c * d`` per
#: row). Measured per chunk on one thread against the full pass, the grouped one took
#: 20-40 ns per row more than its products: on K of ``make bench`` (64 features, ~500 new
#: candidates, 30% of pairs left) 17.6 against 34.4 ms; on M (16 features, a few new
#: candidates) 5.6 against 2.4 ms, where the full pass is cheaper than that overhead.
GROUPING_COST = 512

#: Share of the pairs assumed left to measure at best, when deciding whether to group the
#: rows at all (grouping costs a sort and a table of candidate distances before it is known
#: how many pairs are left; on S of ``make bench``, 32 features and ~30 new candidates, a
#: grouping that then gave way to the full pass made the round 40% slower).
MIN_KEPT_SHARE = 0.1

#: Earlier centres whose distances to the new ones are measured at a time when choosing the
#: pairs to measure (bounds that table's memory: this many times the number of new centres).
SEPARATION_ROWS = 512


def _prepare(X, centers, shift):
    X = np.ascontiguousarray(X)
    dtype = X.dtype
    centers64 = np.asarray(centers, dtype=np.float64)
    shift64 = np.zeros(X.shape[1]) if shift is None else np.asarray(shift, dtype=np.float64)
    centered = centers64 - shift64
    return X, dtype, shift64, centered


def nearest_centers(X, centers, *, shift=None, best_d2=None, best_idx=None, offset=0,
                    row_norms=None, earlier=None):
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
    earlier : ndarray of shape (offset, d), optional
        The centres measured before, uncentred, when ``best_idx`` refers to them and the row
        norms are known. A row then skips the new centres that cannot come nearer than its
        nearest earlier one by the triangle inequality (``|c - a| >= 2 |x - a|``, with room
        for rounding), where that leaves few pairs to measure: the results are the same.

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
    by_row = products_by_row(d, c)
    known = row_norms is not None and n > 0 and not np.isnan(row_norms[0])
    if known:
        if earlier is None or not _improve_pruned(X, flat, centered, terms, row_norms, offset,
                                                  best_d2, best_idx, earlier - shift64):
            _improve_known_norms(X, flat, terms, row_norms, offset, best_d2, best_idx, by_row)
        return best_idx, best_d2
    block = max(1, min(block_rows_for(d, c, dtype.itemsize), n))
    products = thread_scratch("nearest-products", (c * block,), dtype)
    xn = np.empty(block)
    xc = thread_scratch("nearest-centred", (block, d), dtype)
    for start, stop, rows in aligned_blocks(X, block):
        b = stop - start
        # C-contiguous views of the buffer, laid out as products_by_row says
        if by_row:
            dot = np.matmul(rows, flat.T, out=products[: b * c].reshape(b, c))
        else:
            dot = np.matmul(flat, rows.T, out=products[: c * b].reshape(c, b))
        np.subtract(rows, shift_x, out=xc[:b])
        row_sq_norms(xc[:b], xn[:b])
        if row_norms is not None:
            row_norms[start:stop] = xn[:b]
        improve_nearest(dot, terms, xn[:b], offset, best_d2[start:stop], best_idx[start:stop],
                        by_row)
    return best_idx, best_d2


def _improve_known_norms(X, flat, terms, row_norms, offset, best_d2, best_idx, by_row):
    """:func:`nearest_centers` given the row norms: one compiled call per aligned slab."""
    n, d = X.shape
    c = flat.shape[0]
    dtype = X.dtype
    block_bytes = ROW_LAYOUT_BLOCK_BYTES if by_row else None
    block = max(1, min(block_rows_for(d, c, dtype.itemsize, block_bytes), n))
    products = thread_scratch("nearest-products", (c * block,), dtype)
    for start, stop, rows in aligned_slabs(X, block, "nearest-slab"):
        nearest_chunk_lean(rows, flat, terms, row_norms[start:stop], offset,
                           best_d2[start:stop], best_idx[start:stop], block, by_row, products)


def _improve_pruned(X, flat, centered, terms, row_norms, offset, best_d2, best_idx, earlier):
    """:func:`nearest_centers` measuring each row only against the new centres that can come
    nearer than its nearest earlier one (all in centred coordinates); returns False, having
    done nothing, where that would leave most pairs to measure.

    A new centre ``c`` is nearer to ``x`` than ``x``'s nearest earlier centre ``a`` only if
    ``|c - a| <= |x - c| + |x - a| < 2 |x - a|``. For all the rows nearest to ``a`` the new
    centres kept are those within twice the farthest of them, the distances widened by the
    most rounding can move the computed ones (``tol``), so that no centre the full
    measurement would pick is skipped.
    """
    n, d = X.shape
    c = flat.shape[0]
    if offset < 2 or n == 0 or (
            (PRUNED_WORK_SHARE - MIN_KEPT_SHARE) * c * d < GROUPING_COST):
        return False
    order = np.empty(n, dtype=np.int64)
    group_start = np.empty(offset + 1, dtype=np.int64)
    radius2 = np.empty(offset)
    group_rows(np.ascontiguousarray(best_idx, dtype=np.int64), best_d2, order, group_start,
               radius2)
    sizes = np.diff(group_start)
    present = np.flatnonzero(sizes)
    new_norms = np.einsum("ij,ij->i", centered, centered)
    earlier_norms = np.einsum("ij,ij->i", earlier[present], earlier[present])
    # rounding of one computed squared distance (products in the data's dtype) is below
    # ~(d + 8) eps (|x|^2 + |c|^2); twice that covers both distances compared
    eps = np.finfo(X.dtype).eps
    tol = 2.0 * (d + 8) * eps * (row_norms.max() + new_norms.max() + earlier_norms.max())
    kept_counts = np.zeros(offset, dtype=np.int64)
    kept = []
    for part in range(0, present.size, SEPARATION_ROWS):
        groups = present[part:part + SEPARATION_ROWS]
        sep2 = (earlier_norms[part:part + SEPARATION_ROWS, None] + new_norms[None, :]
                - 2.0 * (earlier[groups] @ centered.T))
        bound = 4.0 * (radius2[groups] + tol) * (1.0 + 1e-9) + tol
        keep = sep2 < bound[:, None]
        kept_counts[groups] = keep.sum(axis=1)
        kept.append(np.nonzero(keep)[1])  # row-major: each group's centres ascending
    if int(sizes @ kept_counts) * d + n * GROUPING_COST > PRUNED_WORK_SHARE * n * c * d:
        return False
    keep_indptr = np.concatenate([[0], np.cumsum(kept_counts)])
    keep_index = np.concatenate(kept).astype(np.int64)
    dtype = X.dtype
    block = max(1, min(block_rows_for(d, c, dtype.itemsize, ROW_LAYOUT_BLOCK_BYTES), n))
    improve_nearest_grouped(
        X, flat, terms, row_norms, offset, best_d2, best_idx, order, group_start,
        keep_indptr, keep_index, block, products_by_row(d, c),
        thread_scratch("pruned-rows", (block, d), dtype),
        thread_scratch("pruned-centres", (c, d), dtype),
        thread_scratch("nearest-products", (c * block,), dtype))
    return True


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
