"""One Lloyd pass over one chunk as map + reduce: ``chunk_partials`` → ``combine_partials`` → ``finalize_centers``.

Everything here works in *centred* coordinates: centres are given relative to the data mean
``shift`` and sums are accumulated over ``x - shift``, so the expansion
``|x - shift|^2 - 2 (x - shift).c + |c|^2`` never cancels catastrophically on data far from the
origin. The BLAS product is taken on the raw rows (no centred copy of the data is made, not even
per block); the constant ``2 shift.c`` is folded into the centre terms. The product is laid
out one row per centre (``centers @ block.T``) so that the nearest-centre search runs across
rows in SIMD lanes, except in the lean pass of Lloyd iterations where there are no more
centres than features: there ``block @ centers.T`` is much cheaper (:func:`products_by_row`).
Several restarts (``n_groups``) share each pass: their centres are stacked into one BLAS product.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from dkmeans.kernels._compiled import accumulate_block, lloyd_chunk_lean
from dkmeans.kernels.scratch import thread_scratch

#: Bytes of one row block (rows + their dot products), of the order of a core's L2 cache.
#: Measured on S, M and K of ``make bench`` with 2 threads: 2 MiB is 10-35% faster per
#: iteration than 256 KiB (larger BLAS products, fewer calls; the compiled passes still find
#: the block in L2 or L3).
BLOCK_BYTES = 2 * 1024 * 1024

#: Most rows in a block. With few features and centres, blocks of 4,096 rows spent 10-15% of
#: an iteration in per-block call overhead (M: 16 features, 8 centres).
MAX_BLOCK_ROWS = 16384


@dataclass(frozen=True)
class Partials:
    """The partial contribution of some rows to one Lloyd iteration.

    Attributes
    ----------
    sums : ndarray of shape (n_groups, n_clusters, n_features), float64
        Weighted sums of the centred rows assigned to each centre.
    counts : ndarray of shape (n_groups, n_clusters), float64
        Sum of weights assigned to each centre.
    inertia : ndarray of shape (n_groups,), float64
        Weighted sum of squared distances to the assigned centre.
    far_d2 : ndarray of shape (n_groups, m), float64
        Squared distances of the ``m`` rows farthest from their centre, largest first;
        ``-inf`` pads unused slots.
    far_index : ndarray of shape (n_groups, m), int64
        Global row index of those rows (``-1`` for padding); ties break on the lower index.
    far_rows : ndarray of shape (n_groups, m, n_features), float64
        The centred rows themselves.
    far_weight : ndarray of shape (n_groups, m), float64
    far_label : ndarray of shape (n_groups, m), int64
        The centre each far row is assigned to.
    n_rows : int
    sum_wxn : float
        ``sum(w * |x - shift|^2)`` over the rows: the part of the inertia that does not depend
        on the centres. NaN for lean partials, whose ``inertia`` holds only the cross term
        ``sum(w * (|c|^2 - 2 (x - shift).c))`` (see :func:`chunk_partials`).
    """

    sums: np.ndarray
    counts: np.ndarray
    inertia: np.ndarray
    far_d2: np.ndarray
    far_index: np.ndarray
    far_rows: np.ndarray
    far_weight: np.ndarray
    far_label: np.ndarray
    n_rows: int
    sum_wxn: float = float("nan")


#: Bytes of one row block in the lean Lloyd pass when its products are laid out one row per
#: data row (:func:`products_by_row`). Measured per 250k-row chunk, one thread: S (32
#: features, 16 centres) 6.0-6.3 ms at 256 KiB against 6.8-7.4 ms at 384 KiB-2 MiB; M (16
#: features, 8 centres) 13.5-14.0 ms at 256-512 KiB against 15.0-15.4 ms at 1-2 MiB.
ROW_LAYOUT_BLOCK_BYTES = 256 * 1024


#: A misaligned chunk is copied into an aligned buffer of about this many bytes at a time
#: (whole blocks) before the lean pass reads it.
MISALIGNED_SLAB_BYTES = 4 * 1024 * 1024


def block_rows_for(n_features, n_centers, itemsize, block_bytes=None):
    """Rows per block so that a block of rows and its dot products fit ``block_bytes``
    (default ``BLOCK_BYTES``)."""
    per_row = (n_features + n_centers) * itemsize
    return int(min(MAX_BLOCK_ROWS, max(64, (block_bytes or BLOCK_BYTES) // per_row)))


def products_by_row(n_features, n_centers):
    """Whether the lean Lloyd pass takes its block products as ``x @ centers.T`` (one row per
    data row) instead of ``centers @ x.T`` (one row per centre).

    OpenBLAS computes the first two to three times faster when there are no more centres
    than features (float32, one thread, per 262,144 rows: 32 features and 16 centres, 4.1
    against 8.6 ms; 16 and 8, 1.8 against 2.6 ms; 64 and 64, 29 against 43 ms), more than its
    nearest-centre search costs over the SIMD one across rows of the other layout. With more
    centres than features the products cost about the same (64 features and 256 centres) and
    the search across rows wins.
    """
    return n_centers <= n_features


def _block_weights(sample_weight, block):
    """``weights_of(start, stop)`` for the row blocks of a chunk.

    Without sample weights every block shares one buffer of ones the size of a block: a
    chunk-sized array of ones would be allocated, faulted in and filled on every pass (about
    a tenth of the pass where the allocator returns freed memory at once, as Dask workers
    configure it).
    """
    if sample_weight is None:
        ones = np.ones(block, dtype=np.float64)
        return lambda start, stop: ones[: stop - start]
    weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
    return lambda start, stop: weights[start:stop]


def chunk_partials(X, centers, shift, sample_weight=None, *, n_far=None, row_offset=0,
                   return_labels=False, lean=False):
    """Assign the rows of one chunk and return their partial sums.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
        The chunk, uncentred. Not modified.
    centers : ndarray of shape (n_groups, k, d)
        Centres in centred coordinates.
    shift : ndarray of shape (d,)
        The data mean subtracted from every row.
    sample_weight : ndarray of shape (n,), optional
    n_far : int, optional
        Far rows kept per group for empty-cluster repair; default ``k``.
    row_offset : int, default 0
        Global index of the chunk's first row.
    return_labels : bool, default False
        Also return labels and squared distances.
    lean : bool, default False
        The fast form for Lloyd iterations: no far rows, no ``|x - shift|^2`` per row;
        ``inertia`` then holds only the cross term and ``sum_wxn`` is NaN.

    Returns
    -------
    partials : Partials
    labels : ndarray of shape (n_groups, n), int32
        Only when ``return_labels``.
    min_d2 : ndarray of shape (n_groups, n), float64
        Only when ``return_labels``.
    """
    X = np.asarray(X)
    n, d = X.shape
    n_groups, k, _ = centers.shape
    dtype = X.dtype
    m = min(k if n_far is None else n_far, n)
    flat = np.ascontiguousarray(centers.reshape(n_groups * k, d), dtype=dtype)
    flat64 = centers.reshape(n_groups * k, d).astype(np.float64)
    shift = np.asarray(shift, dtype=dtype)
    center_terms = np.einsum("ij,ij->i", flat64, flat64) + 2.0 * (flat64 @ shift.astype(np.float64))

    sums = np.zeros((n_groups, k, d))
    counts = np.zeros((n_groups, k))
    inertia = np.zeros(n_groups)
    far_d2 = np.full((n_groups, m), -np.inf)
    far_local = np.full((n_groups, m), -1, dtype=np.int64)
    far_label = np.zeros((n_groups, m), dtype=np.int64)
    far_min_pos = np.zeros(n_groups, dtype=np.int64)
    if return_labels:
        labels = np.empty((n_groups, n), dtype=np.int32)
        min_d2 = np.empty((n_groups, n), dtype=np.float64)
    else:
        labels = np.empty((n_groups, 0), dtype=np.int32)
        min_d2 = np.empty((n_groups, 0), dtype=np.float64)

    sum_wxn = np.zeros(1)
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    if lean:
        by_row = products_by_row(d, n_groups * k)
        block_bytes = ROW_LAYOUT_BLOCK_BYTES if by_row else BLOCK_BYTES
        block = max(1, min(block_rows_for(d, n_groups * k, dtype.itemsize, block_bytes), n))
        weights = (None if sample_weight is None
                   else np.ascontiguousarray(sample_weight, dtype=np.float64))
        ones = np.ones(block)  # without sample weights (ignored by the kernel)
        products = thread_scratch("lean-products", (n_groups * k * block,), dtype)
        for start, stop, rows in aligned_slabs(X, block, "lean-slab"):
            lloyd_chunk_lean(rows, shift, flat, center_terms,
                             ones if weights is None else weights[start:stop],
                             weights is None, n_groups, k, block, by_row, sums, counts,
                             inertia, products)
        empty = np.zeros((n_groups, 0))
        return Partials(sums, counts, inertia, empty, empty.astype(np.int64),
                        np.zeros((n_groups, 0, d)), empty, empty.astype(np.int64), n)
    block = max(1, min(block_rows_for(d, n_groups * k, dtype.itemsize), n))
    weights_of = _block_weights(sample_weight, block)
    products_of = _block_products(flat, block)
    for start, stop, xb in aligned_blocks(X, block):
        accumulate_block(
            xb, shift, products_of(xb), center_terms, weights_of(start, stop),
            n_groups, k, start,
            sums, counts, inertia, far_d2, far_local, far_label, far_min_pos,
            labels[:, start:stop], min_d2[:, start:stop], return_labels, sum_wxn,
        )

    partials = _pack_far(X, shift, sample_weight, sums, counts, inertia, far_d2, far_local,
                         far_label, row_offset, n)
    partials = dataclasses.replace(partials, sum_wxn=float(sum_wxn[0]))
    if return_labels:
        return partials, labels, min_d2
    return partials


def _block_products(flat_centers, block):
    """``products_of(rows)``: ``flat_centers @ rows.T``, shape (c, len(rows)), for row blocks
    of up to ``block`` rows, written into one reused buffer (a block's products are consumed
    before the next block's are computed)."""
    n_centers = flat_centers.shape[0]
    buffer = thread_scratch("full-products", (n_centers * block,), flat_centers.dtype)

    def products_of(rows):
        # the first c * b values of the flat buffer, seen as a C-contiguous (c, b) array
        out = buffer[: n_centers * rows.shape[0]].reshape(n_centers, rows.shape[0])
        return np.matmul(flat_centers, rows.T, out=out)

    return products_of


def aligned_blocks(X, block, buffer=None):
    """Yield ``(start, stop, rows)`` for consecutive row blocks of ``X``.

    A chunk that arrived over the network can be a view of a received buffer at any byte
    offset; on misaligned memory BLAS and the compiled loops run about three times slower,
    so such blocks are copied into one aligned buffer first (cheap: a block fits in cache).
    ``buffer``, an aligned array of at least ``(min(block, n), d)``, is that buffer if given.
    """
    n = X.shape[0]
    if X.flags.aligned:
        for start in range(0, n, block):
            stop = min(start + block, n)
            yield start, stop, X[start:stop]
        return
    if buffer is None:
        buffer = np.empty((min(block, n), X.shape[1]), dtype=X.dtype)
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = buffer[: stop - start]
        np.copyto(rows, X[start:stop])
        yield start, stop, rows


def aligned_slabs(X, block, scratch_name):
    """:func:`aligned_blocks` of whole ``block``-row blocks, about ``MISALIGNED_SLAB_BYTES``
    each, for one compiled call per slab: the chunk itself when aligned, else copies into
    this thread's scratch buffer ``scratch_name``."""
    n, d = X.shape
    slab = block * max(1, MISALIGNED_SLAB_BYTES // (block * d * X.dtype.itemsize))
    buffer = (None if X.flags.aligned
              else thread_scratch(scratch_name, (min(slab, n), d), X.dtype))
    return aligned_blocks(X, slab, buffer)


def _pack_far(X, shift, sample_weight, sums, counts, inertia, far_d2, far_local, far_label,
              row_offset, n):
    """Sort the far-row buffers (largest first) and gather their rows (and weights, 1 when
    ``sample_weight`` is None)."""
    n_groups, m = far_d2.shape
    d = X.shape[1]
    order = np.lexsort((far_local, -far_d2), axis=-1) if m else np.zeros((n_groups, 0), int)
    far_d2 = np.take_along_axis(far_d2, order, axis=1)
    far_local = np.take_along_axis(far_local, order, axis=1)
    far_label = np.take_along_axis(far_label, order, axis=1)
    valid = far_local >= 0
    safe = np.where(valid, far_local, 0)
    far_rows = X[safe.ravel()].astype(np.float64).reshape(n_groups, m, d) - shift
    far_rows[~valid] = 0.0
    row_weight = 1.0 if sample_weight is None else np.asarray(sample_weight, np.float64)[safe]
    far_weight = np.where(valid, row_weight, 0.0)
    far_index = np.where(valid, far_local + row_offset, -1)
    return Partials(sums, counts, inertia, far_d2, far_index, far_rows, far_weight,
                    far_label, n)


def combine_partials(parts):
    """Merge partials of disjoint row sets, in the given order (associative).

    Parameters
    ----------
    parts : sequence of Partials

    Returns
    -------
    Partials
    """
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    sums = first.sums.copy()
    counts = first.counts.copy()
    inertia = first.inertia.copy()
    for p in parts[1:]:
        sums += p.sums
        counts += p.counts
        inertia += p.inertia
    m = max(p.far_d2.shape[1] for p in parts)
    far_d2 = np.concatenate([p.far_d2 for p in parts], axis=1)
    far_index = np.concatenate([p.far_index for p in parts], axis=1)
    # largest distance first, then lowest global row: the same choice whatever the chunking
    order = np.lexsort((np.where(far_index < 0, np.iinfo(np.int64).max, far_index), -far_d2),
                       axis=-1)[:, :m]
    pick = lambda name: np.take_along_axis(  # noqa: E731
        np.concatenate([getattr(p, name) for p in parts], axis=1), order, axis=1)
    far_rows = np.take_along_axis(np.concatenate([p.far_rows for p in parts], axis=1),
                                  order[:, :, None], axis=1)
    return Partials(sums, counts, inertia, pick("far_d2"), pick("far_index"), far_rows,
                    pick("far_weight"), pick("far_label"), sum(p.n_rows for p in parts),
                    sum(p.sum_wxn for p in parts))


def finalize_centers(partials, old_centers):
    """Turn reduced partials into new centres, relocating empty clusters.

    An empty cluster takes the row farthest from its centre that no other empty cluster took
    (scikit-learn's rule); that row's weight moves out of its old cluster.

    Parameters
    ----------
    partials : Partials
        Reduced over all rows.
    old_centers : ndarray of shape (n_groups, k, d), float64
        Centred centres the partials were computed with; a centre with no weight and no far
        row to take keeps its old position.

    Returns
    -------
    centers : ndarray of shape (n_groups, k, d), float64
    center_shift : ndarray of shape (n_groups,), float64
        Sum over centres of the squared distance moved.
    n_empty : ndarray of shape (n_groups,), int64
    """
    sums = partials.sums.copy()
    counts = partials.counts.copy()
    n_groups, k, _ = sums.shape
    n_empty = np.zeros(n_groups, dtype=np.int64)
    relocated = np.zeros((n_groups, k), dtype=bool)
    new_rows = np.zeros_like(sums)
    for g in range(n_groups):
        empty = np.flatnonzero(counts[g] <= 0)
        n_empty[g] = len(empty)
        usable = np.flatnonzero(partials.far_index[g] >= 0)
        for slot, cluster in zip(usable[: len(empty)], empty):
            row = partials.far_rows[g, slot]
            w = partials.far_weight[g, slot]
            old = partials.far_label[g, slot]
            sums[g, old] -= row * w
            counts[g, old] -= w
            new_rows[g, cluster] = row
            counts[g, cluster] = w
            relocated[g, cluster] = True
    centers = old_centers.astype(np.float64, copy=True)
    filled = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / np.where(filled, counts, 1.0)[:, :, None]
    centers[filled & ~relocated] = means[filled & ~relocated]
    centers[relocated] = new_rows[relocated]
    shift = ((centers - old_centers) ** 2).sum(axis=(1, 2))
    return centers, shift, n_empty
