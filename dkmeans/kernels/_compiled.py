"""Compiled inner loops (numba, ``nogil`` so several threads can run them at once).

Only loops that NumPy cannot express in one pass live here; the BLAS product that dominates the
cost is done by NumPy in the callers, one cache-sized row block at a time.
"""

from __future__ import annotations

import numba
import numpy as np

# Reassociation lets the per-row reductions vectorise; NaN/inf semantics are kept because
# ``inf`` seeds the argmin and the input is checked for non-finite values before any fit.
_JIT = dict(nopython=True, nogil=True, cache=True,
            fastmath={"reassoc", "contract", "nsz", "arcp"})


@numba.jit(**_JIT)
def nearest_in_columns(dot_t, center_terms, base, n_clusters, best, label):
    """Nearest of ``n_clusters`` centres for every row of a block, rows side by side.

    The centres' products are rows of ``dot_t`` (one column per data row), so the loop over
    rows is innermost and runs in SIMD lanes: several rows are compared with one centre at
    once, instead of each row's centres in turn (a chain of dependent compares). Distances
    are compared in the data's dtype, as scikit-learn does (the products carry that
    precision anyway), with the first minimum winning, as ``argmin`` does; float32 doubles
    the lanes and halves the cost against float64.

    Parameters
    ----------
    dot_t : ndarray of shape (c, b)
        ``centers @ x.T`` for the block's ``b`` rows; rows ``base .. base + n_clusters``
        belong to the centres compared here.
    center_terms : ndarray of shape (c,), float64
        ``|c|^2 + 2 shift.c`` per centre.
    base, n_clusters : int
    best : ndarray of shape (b,), dtype of ``dot_t``
        Receives ``min_j (center_terms[j] - 2 x.c_j)``: the squared distance to the nearest
        centre less ``|x - shift|^2``.
    label : ndarray of shape (b,), dtype of ``dot_t``
        Receives the index (within the group) of that centre, as a float so that it shares
        the SIMD lanes of ``best`` (exact: float32 holds every integer up to 2**24).
    """
    b = dot_t.shape[1]
    kind = dot_t.dtype.type
    two = kind(2.0)
    for i in range(b):
        best[i] = np.inf
        label[i] = 0.0
    for j in range(n_clusters):
        term = kind(center_terms[base + j])
        index = kind(j)
        products = dot_t[base + j]
        for i in range(b):
            v = term - two * products[i]
            current = best[i]
            label[i] = index if v < current else label[i]
            best[i] = min(v, current)


@numba.jit(**_JIT)
def nearest_in_rows(products, center_terms, base, n_clusters, best, label):
    """:func:`nearest_in_columns` for products laid out one row per data row.

    ``products`` has shape (b, c): ``x @ centers.T``, which BLAS computes up to three times
    faster than ``centers @ x.T`` when there are no more centres than features (see
    :func:`dkmeans.kernels.partials.products_by_row`). Each row's centres are compared in
    turn, a chain of dependent compares, so four rows are interleaved to keep the core busy.
    Same arithmetic and tie rule as :func:`nearest_in_columns`, so the same results from the
    same products.
    """
    b = products.shape[0]
    kind = products.dtype.type
    two = kind(2.0)
    inf = kind(np.inf)
    whole = b - b % 4
    for i in range(0, whole, 4):
        m0 = m1 = m2 = m3 = inf
        l0 = l1 = l2 = l3 = kind(0.0)
        for j in range(n_clusters):
            term = kind(center_terms[base + j])
            index = kind(j)
            v0 = term - two * products[i, base + j]
            v1 = term - two * products[i + 1, base + j]
            v2 = term - two * products[i + 2, base + j]
            v3 = term - two * products[i + 3, base + j]
            l0 = index if v0 < m0 else l0
            l1 = index if v1 < m1 else l1
            l2 = index if v2 < m2 else l2
            l3 = index if v3 < m3 else l3
            m0 = min(v0, m0)
            m1 = min(v1, m1)
            m2 = min(v2, m2)
            m3 = min(v3, m3)
        best[i], best[i + 1], best[i + 2], best[i + 3] = m0, m1, m2, m3
        label[i], label[i + 1], label[i + 2], label[i + 3] = l0, l1, l2, l3
    for i in range(whole, b):
        m = inf
        lab = kind(0.0)
        for j in range(n_clusters):
            v = kind(center_terms[base + j]) - two * products[i, base + j]
            lab = kind(j) if v < m else lab
            m = min(v, m)
        best[i] = m
        label[i] = lab


@numba.jit(**_JIT)
def nearest_in_products(products, center_terms, base, n_clusters, best, label, by_row):
    """:func:`nearest_in_rows` for products laid out ``(b, c)`` (``by_row``), else
    :func:`nearest_in_columns` for ``(c, b)``."""
    if by_row:
        nearest_in_rows(products, center_terms, base, n_clusters, best, label)
    else:
        nearest_in_columns(products, center_terms, base, n_clusters, best, label)


@numba.jit(**_JIT)
def accumulate_block(
    x, shift, dot_t, center_terms, weights, n_groups, n_clusters, row0,
    sums, counts, inertia, far_d2, far_local, far_label, far_min_pos,
    labels, min_d2, want_labels, sum_wxn,
):
    """Assign each row of a block to its nearest centre and accumulate the partial sums.

    Sums are accumulated over the block in the data's dtype (the block is at most a few
    thousand rows) and added to the float64 totals once per block: that keeps the inner loop
    vectorised at float32 width while the totals stay float64.

    Parameters
    ----------
    x : ndarray of shape (b, d)
        Rows of the block, uncentred.
    shift : ndarray of shape (d,), same dtype as ``x``
        The data mean; the loop works on ``x - shift`` formed on the fly.
    dot_t : ndarray of shape (n_groups * n_clusters, b), dtype of ``x``
        ``centers @ x.T`` for all groups' centred centres, one row per centre.
    center_terms : ndarray of shape (n_groups * n_clusters,), float64
        ``|c|^2 + 2 shift.c`` per centred centre ``c``, so that
        ``|x - shift - c|^2 = |x - shift|^2 + center_terms - 2 x.c``.
    weights : ndarray of shape (b,), float64
    n_groups, n_clusters : int
        Restarts run side by side, and centres per restart.
    row0 : int
        Index of the block's first row within the chunk (for the far-row buffer).
    sums : ndarray of shape (n_groups, n_clusters, d), float64, updated in place
    counts : ndarray of shape (n_groups, n_clusters), float64, updated in place
    inertia : ndarray of shape (n_groups,), float64, updated in place
    far_d2, far_local, far_label : ndarray of shape (n_groups, m), updated in place
        The ``m`` rows farthest from their centre so far (squared distance, chunk-local row,
        assigned centre), used to repair empty clusters; ``far_min_pos[g]`` is the slot
        holding the smallest.
    labels, min_d2 : ndarray of shape (n_groups, b)
        Written only when ``want_labels``.
    sum_wxn : ndarray of shape (1,), float64, updated in place
        Accumulates ``w * |x - shift|^2``: the centre-independent part of the inertia.
    """
    b, d = x.shape
    m = far_d2.shape[1]
    best = np.empty((n_groups, b), dtype=dot_t.dtype)
    best_label = np.empty((n_groups, b), dtype=dot_t.dtype)
    for g in range(n_groups):
        nearest_in_columns(dot_t, center_terms, g * n_clusters, n_clusters,
                           best[g], best_label[g])
    acc = np.zeros((n_groups, n_clusters, d), dtype=x.dtype)
    xc = np.empty(d, dtype=x.dtype)
    for i in range(b):
        xn = np.float64(0.0)
        for f in range(d):
            xc[f] = x[i, f] - shift[f]
            xn += np.float64(xc[f]) * np.float64(xc[f])
        w = weights[i]
        wx = x.dtype.type(w)
        sum_wxn[0] += w * xn
        for g in range(n_groups):
            best_j = np.int64(best_label[g, i])
            d2 = xn + np.float64(best[g, i])
            if d2 < 0.0:  # cancellation can make a tiny distance negative
                d2 = 0.0
            for f in range(d):
                acc[g, best_j, f] += wx * xc[f]
            counts[g, best_j] += w
            inertia[g] += w * d2
            if want_labels:
                labels[g, i] = best_j
                min_d2[g, i] = d2
            if m > 0:
                p = far_min_pos[g]
                if d2 > far_d2[g, p]:
                    far_d2[g, p] = d2
                    far_local[g, p] = row0 + i
                    far_label[g, p] = best_j
                    # rescan for the new smallest slot: rare once the buffer is warm
                    q = 0
                    for s in range(1, m):
                        if far_d2[g, s] < far_d2[g, q]:
                            q = s
                    far_min_pos[g] = q
    for g in range(n_groups):
        for j in range(n_clusters):
            for f in range(d):
                sums[g, j, f] += acc[g, j, f]


@numba.jit(**_JIT)
def improve_nearest(products, center_terms, xn, offset, best_d2, best_idx, by_row):
    """Update per-row nearest-centre distances with a new set of centres.

    Parameters
    ----------
    products : ndarray of shape (c, b), or (b, c) with ``by_row``
        ``new_centers @ x.T`` (one row per centre, as in :func:`nearest_in_columns`), or
        ``x @ new_centers.T`` (as in :func:`nearest_in_rows`).
    center_terms : ndarray of shape (c,), float64
        ``|c|^2 + 2 shift.c`` per centred centre.
    xn : ndarray of shape (b,), float64
        Squared norms of the centred rows.
    offset : int
        Index of the first new centre among all centres so far.
    best_d2 : ndarray of shape (b,), updated in place
        Squared distance to the nearest centre so far (``inf`` before any).
    best_idx : ndarray of shape (b,), int32 or int64, updated in place
    by_row : bool
    """
    b = xn.shape[0]
    c = center_terms.shape[0]
    nearest = np.empty(b, dtype=products.dtype)
    nearest_j = np.empty(b, dtype=products.dtype)
    nearest_in_products(products, center_terms, 0, c, nearest, nearest_j, by_row)
    for i in range(b):
        d2 = xn[i] + np.float64(nearest[i])
        d2 = d2 if d2 > 0.0 else 0.0
        if d2 < best_d2[i]:
            best_d2[i] = d2
            best_idx[i] = offset + np.int64(nearest_j[i])


@numba.jit(**_JIT)
def first_center_block(x, shift, center, best_d2, row_norms):
    """Squared distances to one centre, and ``|x - shift|^2``, of every row, in one sweep.

    The first k-means|| round measures a single candidate: differences computed directly
    cost less than a product with one column, and the row norms later rounds reuse come in
    the same sweep. x (b, d); shift, center (d,) float64; best_d2, row_norms (b,) float64.
    """
    b, d = x.shape
    for i in range(b):
        to_center = 0.0
        to_shift = 0.0
        for f in range(d):
            v = np.float64(x[i, f])
            a = v - center[f]
            s = v - shift[f]
            to_center += a * a
            to_shift += s * s
        best_d2[i] = to_center
        row_norms[i] = to_shift


@numba.jit(**_JIT)
def row_sq_norms(xc, out):
    """``out[i] = sum(xc[i] ** 2)`` in float64. xc (b, d), out (b,)."""
    b, d = xc.shape
    for i in range(b):
        s = 0.0
        for f in range(d):
            v = np.float64(xc[i, f])
            s += v * v
        out[i] = s


@numba.jit(**_JIT)
def finite_moments(x, out_sum, out_m2, row_finite, bad_per_column):
    """Per-feature mean and centred sum of squares over the finite rows of a chunk.

    Two passes over the chunk (mean, then squared deviations) for accuracy in float64.

    Parameters
    ----------
    x : ndarray of shape (n, d)
    out_sum : ndarray of shape (d,), float64
        Receives the mean of the finite rows (zeros if none).
    out_m2 : ndarray of shape (d,), float64
        Receives the sum of squared deviations from that mean.
    row_finite : ndarray of shape (n,), bool
        Receives whether each row is entirely finite.
    bad_per_column : ndarray of shape (d,), int64
        Receives the number of NaN/inf values in each column.

    Returns
    -------
    int
        Number of finite rows.
    """
    n, d = x.shape
    count = 0
    for f in range(d):
        out_sum[f] = 0.0
        out_m2[f] = 0.0
        bad_per_column[f] = 0
    for i in range(n):
        ok = True
        for f in range(d):
            v = np.float64(x[i, f])
            if not (v - v == 0.0):  # false for NaN and +-inf
                ok = False
                bad_per_column[f] += 1
        row_finite[i] = ok
        if ok:
            count += 1
            for f in range(d):
                out_sum[f] += np.float64(x[i, f])
    if count == 0:
        return 0
    for f in range(d):
        out_sum[f] /= count
    for i in range(n):
        if row_finite[i]:
            for f in range(d):
                dv = np.float64(x[i, f]) - out_sum[f]
                out_m2[f] += dv * dv
    return count


@numba.jit(**_JIT)
def _keyed_draw(key, row):
    """splitmix64(row * golden + key) mapped to [0, 1): the top 53 bits (see ``kernels.random``)."""
    z = row * np.uint64(0x9E3779B97F4A7C15) + key
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.jit(**_JIT)
def keyed_uniform_into(key, row_start, out):
    """``out[i]`` = the keyed draw of row ``row_start + i``; see ``kernels.random``."""
    for i in range(out.shape[0]):
        out[i] = _keyed_draw(key, np.uint64(row_start + i))


@numba.jit(nopython=True, nogil=True, cache=True)  # exact IEEE products, as NumPy's
def keyed_sample_into(key, row_start, best_d2, weights, unit_weights, oversampling, cost,
                      picked):
    """Rows drawn with probability ``min(1, l w D^2 / cost)``: those whose keyed draw ``u``
    has ``u * cost < l * w * D^2``, found in one sweep without a per-row array.

    Parameters
    ----------
    key : numpy.uint64
    row_start : numpy.uint64
        Global index of the first row.
    best_d2 : ndarray of shape (n,), float64
    weights : ndarray of shape (n,), float64
        Ignored when ``unit_weights``.
    unit_weights : bool
    oversampling, cost : float
    picked : ndarray of shape (n,), int64
        Receives the chunk-local indices of the rows drawn, ascending.

    Returns
    -------
    int
        How many rows were drawn.

    The score is computed as ``(l * w) * D^2``, without reassociation, as NumPy computes
    the scores kept with the sample: a row re-tested against a larger cost must be
    compared with the very value it was drawn with.
    """
    count = 0
    for i in range(best_d2.shape[0]):
        score = oversampling * best_d2[i] if unit_weights else (
            oversampling * weights[i] * best_d2[i])
        if score > 0.0 and _keyed_draw(key, row_start + np.uint64(i)) * cost < score:
            picked[count] = i
            count += 1
    return count


@numba.jit(**_JIT)
def accumulate_block_lean(x, shift, products, center_terms, weights, n_groups, n_clusters,
                          sums, counts, cross, unit_weights, by_row):
    """The hot loop of a Lloyd iteration: argmin, per-cluster sums and counts, and the
    assignment's cross term ``sum(w * (|c|^2 - 2 (x - shift).c))`` in place of the inertia.

    The inertia is ``cross + sum(w * |x - shift|^2)``; the second term does not change between
    iterations, so the driver measures it once (with :func:`accumulate_block`) instead of
    recomputing ``|x - shift|^2`` for every row of every iteration. Far rows are not tracked:
    the driver asks for them (with :func:`accumulate_block`) only when a cluster is empty.
    Arguments as in :func:`accumulate_block`; ``cross`` (n_groups,) is updated in place;
    ``unit_weights`` says every weight is 1 (the common case: one multiply less per value).

    ``products`` is ``centers @ x.T``, shape (c, b), or with ``by_row`` ``x @ centers.T``,
    shape (b, c). Per group, the nearest centres of all rows come first
    (:func:`nearest_in_columns` or :func:`nearest_in_rows`), then the sums in a second
    sweep while the block is in cache.
    """
    b, d = x.shape
    best = np.empty(b, dtype=products.dtype)
    best_label = np.empty(b, dtype=products.dtype)
    # block-local sums and counts: stores to them cannot alias the rows, so the loads of
    # ``x`` and ``shift`` stay in registers (15-25% faster than counting into ``counts``)
    acc = np.empty((n_clusters, d), dtype=x.dtype)
    group_counts = np.empty(n_clusters)
    for g in range(n_groups):
        nearest_in_products(products, center_terms, g * n_clusters, n_clusters, best,
                            best_label, by_row)
        group_cross = 0.0
        if unit_weights:
            for i in range(b):
                group_cross += np.float64(best[i])
        else:
            for i in range(b):
                group_cross += weights[i] * np.float64(best[i])
        cross[g] += group_cross
        acc[:] = 0
        group_counts[:] = 0
        if unit_weights:
            for i in range(b):
                j = np.int64(best_label[i])
                for f in range(d):
                    acc[j, f] += x[i, f] - shift[f]
                group_counts[j] += 1.0
        else:
            for i in range(b):
                j = np.int64(best_label[i])
                wx = x.dtype.type(weights[i])
                for f in range(d):
                    acc[j, f] += wx * (x[i, f] - shift[f])
                group_counts[j] += weights[i]
        for j in range(n_clusters):
            counts[g, j] += group_counts[j]
            for f in range(d):
                sums[g, j, f] += acc[j, f]


@numba.jit(**_JIT)
def greedy_plusplus_pairwise(d2, weights, first, uniforms, out_index):
    """Greedy k-means++ on rows whose pairwise squared distances are known.

    Each step draws ``t`` candidates with probability proportional to ``w * D(x)^2`` (inverse
    CDF of ``uniforms[step - 1]``) and keeps the one that lowers the weighted potential most,
    as :func:`dkmeans.kernels.seeding.kmeans_plusplus` does with BLAS products.

    Parameters
    ----------
    d2 : ndarray of shape (n, n), float64
        Squared distances between the rows.
    weights : ndarray of shape (n,), float64
    first : int
        The first centre.
    uniforms : ndarray of shape (k - 1, t), float64
        Uniform draws in [0, 1) for each later step.
    out_index : ndarray of shape (k,), int64
        Receives the chosen rows.
    """
    n = d2.shape[0]
    k = out_index.shape[0]
    t = uniforms.shape[1]
    closest = d2[first].copy()
    cumulative = np.empty(n)
    out_index[0] = first
    for step in range(1, k):
        total = 0.0
        for i in range(n):
            total += weights[i] * closest[i]
            cumulative[i] = total
        if total <= 0.0:  # every row sits on a centre already: any row will do
            out_index[step] = min(int(uniforms[step - 1, 0] * n), n - 1)
            continue
        best_potential = np.inf
        best = 0
        for j in range(t):
            target = uniforms[step - 1, j] * total
            lo, hi = 0, n  # first index whose cumulative weight reaches the target
            while lo < hi:
                mid = (lo + hi) // 2
                if cumulative[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            candidate = min(lo, n - 1)
            potential = 0.0
            for i in range(n):
                potential += weights[i] * min(closest[i], d2[candidate, i])
            if potential < best_potential:
                best_potential = potential
                best = candidate
        out_index[step] = best
        for i in range(n):
            closest[i] = min(closest[i], d2[best, i])


@numba.jit(**_JIT)
def block_products(rows, centers, centers_t, by_row, buffer):
    """Products of a block of rows with the centres, written into ``buffer``: ``rows @
    centers.T``, shape (b, c), with ``by_row``, else ``centers @ rows.T``, shape (c, b)
    (C-contiguous views of the buffer's first ``b * c`` values). ``centers_t`` is
    ``centers.T`` made C-contiguous, used with ``by_row``."""
    b = rows.shape[0]
    c = centers.shape[0]
    if by_row:
        products = buffer[: b * c].reshape((b, c))
        np.dot(rows, centers_t, products)
    else:
        products = buffer[: c * b].reshape((c, b))
        np.dot(centers, rows.T, products)
    return products


@numba.jit(**_JIT)
def lloyd_chunk_lean(x, shift, flat_centers, center_terms, weights, unit_weights, n_groups,
                     n_clusters, block, by_row, sums, counts, cross, buffer):
    """:func:`accumulate_block_lean` over every row block of a chunk, each block's BLAS
    product taken here too.

    One compiled call per chunk instead of two Python calls per block: at 16 features and 8
    centres a block's work is tens of microseconds, of the order of a Python call's cost, so
    blocks can stay small enough for L2 (BLAS is reached through SciPy's ``cython_blas``,
    as numba does for ``np.dot``).

    Parameters
    ----------
    x : ndarray of shape (n, d), C-contiguous and aligned
        (see :func:`dkmeans.kernels.partials.aligned_blocks`).
    shift : ndarray of shape (d,), dtype of ``x``
    flat_centers : ndarray of shape (c, d), dtype of ``x``, C-contiguous
        All groups' centred centres, ``c = n_groups * n_clusters``.
    center_terms : ndarray of shape (c,), float64
    weights : ndarray of shape (n,), float64
        Ignored when ``unit_weights`` (then any array of at least ``block`` values).
    block : int
        Rows per block.
    by_row : bool
        Take each block's product as ``x @ centers.T`` (b, c) rather than
        ``centers @ x.T`` (c, b); see :func:`dkmeans.kernels.partials.products_by_row`.
    sums, counts, cross
        As in :func:`accumulate_block_lean`, updated in place.
    buffer : ndarray of shape (>= c * block,), dtype of ``x``
        Scratch for the products (kept by the caller between passes).
    """
    n = x.shape[0]
    # the transposed copy only where it is used: reclustering calls this thousands of times
    centers_t = np.ascontiguousarray(flat_centers.T) if by_row else flat_centers
    for start in range(0, n, block):
        stop = min(start + block, n)
        xb = x[start:stop]
        products = block_products(xb, flat_centers, centers_t, by_row, buffer)
        w = weights[: stop - start] if unit_weights else weights[start:stop]
        accumulate_block_lean(xb, shift, products, center_terms, w, n_groups, n_clusters,
                              sums, counts, cross, unit_weights, by_row)


@numba.jit(**_JIT)
def nearest_chunk_lean(x, flat_centers, center_terms, row_norms, offset, best_d2, best_idx,
                       block, by_row, buffer):
    """:func:`improve_nearest` over every row block of a chunk whose row norms are known,
    each block's BLAS product taken here too (one compiled call per chunk, as
    :func:`lloyd_chunk_lean`).

    Parameters
    ----------
    x : ndarray of shape (n, d), C-contiguous and aligned
    flat_centers : ndarray of shape (c, d), dtype of ``x``, C-contiguous
        The new centres, centred.
    center_terms : ndarray of shape (c,), float64
    row_norms : ndarray of shape (n,), float64
        ``|x - shift|^2`` of every row.
    offset : int
        Index of the first new centre among all centres so far.
    best_d2, best_idx : ndarray of shape (n,), updated in place
    block : int
        Rows per block.
    by_row : bool
        Products laid out ``(b, c)`` rather than ``(c, b)``.
    buffer : ndarray of shape (>= c * block,), dtype of ``x``
    """
    n = x.shape[0]
    centers_t = np.ascontiguousarray(flat_centers.T) if by_row else flat_centers
    for start in range(0, n, block):
        stop = min(start + block, n)
        products = block_products(x[start:stop], flat_centers, centers_t, by_row, buffer)
        improve_nearest(products, center_terms, row_norms[start:stop], offset,
                        best_d2[start:stop], best_idx[start:stop], by_row)


@numba.jit(**_JIT)
def improve_nearest_grouped(x, flat_centers, center_terms, row_norms, offset, best_d2, best_idx,
                            order, group_start, keep_indptr, keep_index, block, by_row,
                            row_buffer, center_buffer, products):
    """:func:`nearest_chunk_lean` measuring each row only against the new centres that can
    improve on its nearest one.

    Rows are taken group by group, a group being the rows whose nearest centre so far is the
    same (``order[group_start[a]:group_start[a + 1]]`` for centre ``a``); the group's rows are
    measured against the new centres ``keep_index[keep_indptr[a]:keep_indptr[a + 1]]`` only
    (ascending), with one BLAS product per block of gathered rows. The caller guarantees that
    no other new centre can come nearer than a row's current nearest, so the results are
    those of measuring every new centre.

    Parameters
    ----------
    x : ndarray of shape (n, d), C-contiguous and aligned
    flat_centers : ndarray of shape (c, d), dtype of ``x``
        The new centres, centred.
    center_terms : ndarray of shape (c,), float64
    row_norms : ndarray of shape (n,), float64
    offset : int
        Index of the first new centre among all centres so far.
    best_d2, best_idx : ndarray of shape (n,), updated in place
    order : ndarray of shape (n,), int64
        Row indices grouped by their nearest centre so far.
    group_start : ndarray of shape (g + 1,), int64
    keep_indptr : ndarray of shape (g + 1,), int64
    keep_index : ndarray of shape (nnz,), int64
    block : int
        Most rows per product.
    by_row : bool
        Products laid out as :func:`nearest_chunk_lean` lays them out for all ``c`` centres
        (the same layout gives the same products).
    row_buffer : ndarray of shape (>= block, d), dtype of ``x``
    center_buffer : ndarray of shape (>= c, d), dtype of ``x``
    products : ndarray of shape (>= c * block,), dtype of ``x``
    """
    d = x.shape[1]
    n_groups = group_start.shape[0] - 1
    terms = np.empty(flat_centers.shape[0])
    nearest = np.empty(block, dtype=products.dtype)
    nearest_j = np.empty(block, dtype=products.dtype)
    for a in range(n_groups):
        first, last = group_start[a], group_start[a + 1]
        m = keep_indptr[a + 1] - keep_indptr[a]
        if first == last or m == 0:
            continue
        kept = keep_index[keep_indptr[a]:keep_indptr[a + 1]]
        for j in range(m):
            terms[j] = center_terms[kept[j]]
            for f in range(d):
                center_buffer[j, f] = flat_centers[kept[j], f]
        centers = center_buffer[:m]
        centers_t = np.ascontiguousarray(centers.T) if by_row else centers
        for start in range(first, last, block):
            b = min(block, last - start)
            rows = row_buffer[:b]
            for i in range(b):
                r = order[start + i]
                for f in range(d):
                    rows[i, f] = x[r, f]
            dot = block_products(rows, centers, centers_t, by_row, products)
            nearest_in_products(dot, terms, 0, m, nearest[:b], nearest_j[:b], by_row)
            for i in range(b):
                r = order[start + i]
                d2 = row_norms[r] + np.float64(nearest[i])
                d2 = d2 if d2 > 0.0 else 0.0
                if d2 < best_d2[r]:
                    best_d2[r] = d2
                    best_idx[r] = offset + kept[np.int64(nearest_j[i])]


@numba.jit(**_JIT)
def group_rows(best_idx, best_d2, order, group_start, radius2):
    """Rows grouped by their nearest centre (a counting sort), and each group's farthest
    squared distance.

    Parameters
    ----------
    best_idx : ndarray of shape (n,), int64
        Nearest centre of every row, in ``[0, g)``.
    best_d2 : ndarray of shape (n,), float64
    order : ndarray of shape (n,), int64
        Receives the row indices, group by group, ascending within a group.
    group_start : ndarray of shape (g + 1,), int64
        Receives where each group starts in ``order``.
    radius2 : ndarray of shape (g,), float64
        Receives the largest ``best_d2`` of each group (0 for an empty one).
    """
    n = best_idx.shape[0]
    g = radius2.shape[0]
    group_start[:] = 0
    radius2[:] = 0.0
    for i in range(n):
        a = best_idx[i]
        group_start[a + 1] += 1
        if best_d2[i] > radius2[a]:
            radius2[a] = best_d2[i]
    for a in range(g):
        group_start[a + 1] += group_start[a]
    filled = group_start[:g].copy()
    for i in range(n):
        a = best_idx[i]
        order[filled[a]] = i
        filled[a] += 1
