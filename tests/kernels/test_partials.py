"""Per-chunk Lloyd partials against a few lines of NumPy."""

import numpy as np
import pytest

from dkmeans.kernels._compiled import nearest_in_columns, nearest_in_rows
from dkmeans.kernels.partials import (
    ROW_LAYOUT_BLOCK_BYTES,
    block_rows_for,
    chunk_partials,
    combine_partials,
    finalize_centers,
    products_by_row,
)


def reference(X, centers, w):
    d2 = ((X[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(-1)
    labels = d2.argmin(1)
    k, d = centers.shape
    sums = np.zeros((k, d))
    np.add.at(sums, labels, X.astype(np.float64) * w[:, None])
    counts = np.bincount(labels, weights=w, minlength=k)
    inertia = (d2[np.arange(len(X)), labels] * w).sum()
    return labels, sums, counts, inertia, d2[np.arange(len(X)), labels]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunk_partials_match_numpy(dtype, weighted):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((3000, 7)) * 3 + 2).astype(dtype)
    centers = rng.standard_normal((5, 7)) * 3 + 2
    w = rng.uniform(0.5, 2.0, len(X)) if weighted else np.ones(len(X))
    shift = X.mean(0, dtype=np.float64)
    p, labels, d2 = chunk_partials(X, (centers - shift)[None], shift,
                                   w if weighted else None, return_labels=True)
    ref_labels, ref_sums, ref_counts, ref_inertia, ref_d2 = reference(X, centers, w)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_array_equal(labels[0], ref_labels)
    # sums are of centred rows: add the shift back
    np.testing.assert_allclose(p.sums[0] + ref_counts[:, None] * shift, ref_sums, rtol=rtol,
                               atol=rtol * 10)
    np.testing.assert_allclose(p.counts[0], ref_counts, rtol=1e-12)
    np.testing.assert_allclose(p.inertia[0], ref_inertia, rtol=rtol)
    np.testing.assert_allclose(d2[0], ref_d2, rtol=rtol, atol=rtol)


def test_several_groups_equal_separate_runs():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 4))
    shift = X.mean(0)
    groups = rng.standard_normal((3, 6, 4))
    together = chunk_partials(X, groups, shift)
    for g in range(3):
        alone = chunk_partials(X, groups[g:g + 1], shift)
        np.testing.assert_allclose(together.sums[g], alone.sums[0], rtol=1e-12)
        np.testing.assert_array_equal(together.counts[g], alone.counts[0])
        np.testing.assert_array_equal(together.far_index[g], alone.far_index[0])


def test_far_rows_are_the_farthest_from_their_centre():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5000, 3))
    centers = rng.standard_normal((4, 3))
    p = chunk_partials(X, centers[None], np.zeros(3), row_offset=100)
    _, _, _, _, d2 = reference(X, centers, np.ones(len(X)))
    expected = np.argsort(-d2, kind="stable")[:4] + 100
    np.testing.assert_array_equal(p.far_index[0], expected)
    np.testing.assert_allclose(p.far_rows[0], X[expected - 100])


def test_far_from_origin_float32_keeps_labels():
    # rows near 1e4 in float32: expanding |x|^2 - 2x.c + |c|^2 without centring cancels badly
    rng = np.random.default_rng(3)
    centers = np.array([[1e4, 1e4], [1e4 + 1.0, 1e4], [1e4, 1e4 + 1.0]])
    X = (centers[rng.integers(0, 3, 4000)] + rng.normal(0, 0.1, (4000, 2))).astype(np.float32)
    shift = X.mean(0, dtype=np.float64)
    _, labels, _ = chunk_partials(X, (centers - shift)[None], shift, return_labels=True)
    ref = reference(X, centers, np.ones(len(X)))[0]
    assert (labels[0] == ref).mean() > 0.999


def split_partials(X, centers, shift, cuts, w=None):
    bounds = [0, *cuts, len(X)]
    return [chunk_partials(X[a:b], centers, shift, None if w is None else w[a:b], row_offset=a)
            for a, b in zip(bounds[:-1], bounds[1:])]


def test_combine_is_associative_and_chunk_invariant():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3000, 5))
    centers = rng.standard_normal((1, 6, 5))
    shift = X.mean(0)
    a, b, c = split_partials(X, centers, shift, [700, 1900])
    left = combine_partials([combine_partials([a, b]), c])
    right = combine_partials([a, combine_partials([b, c])])
    whole = chunk_partials(X, centers, shift)
    for p in (left, right):
        np.testing.assert_allclose(p.sums, whole.sums, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(p.counts, whole.counts)
        np.testing.assert_allclose(p.inertia, whole.inertia, rtol=1e-12)
        np.testing.assert_array_equal(p.far_index, whole.far_index)
        np.testing.assert_array_equal(p.far_label, whole.far_label)
        assert p.n_rows == 3000


def test_finalize_relocates_empty_cluster_to_farthest_row():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [9.0, 9.0]])
    # centre 2 sits far from every row: it gets no rows and must move to the farthest row
    centers = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, -100.0]])[None]
    p = chunk_partials(X, centers, np.zeros(2))
    assert p.counts[0, 2] == 0
    new, moved, n_empty = finalize_centers(p, centers)
    assert n_empty[0] == 1
    np.testing.assert_array_equal(new[0, 2], [9.0, 9.0])
    # the row left cluster 1, whose mean is recomputed without it
    np.testing.assert_allclose(new[0, 1], [5.05, 5.0])
    np.testing.assert_allclose(new[0, 0], X[:3].mean(0))
    assert moved[0] > 0


def test_finalize_matches_scikit_learn_relocation():
    sklearn_common = pytest.importorskip("sklearn.cluster._k_means_common")
    rng = np.random.default_rng(5)
    X = rng.standard_normal((500, 3))
    centers = np.vstack([rng.standard_normal((3, 3)), [[50, 50, 50], [-50, 50, 0]]])
    p = chunk_partials(X, centers[None], np.zeros(3))
    new, _, n_empty = finalize_centers(p, centers[None])
    assert n_empty[0] == 2
    labels = ((X[:, None] - centers[None]) ** 2).sum(-1).argmin(1).astype(np.int32)
    sums = np.zeros_like(centers)
    np.add.at(sums, labels, X)
    weight = np.bincount(labels, minlength=5).astype(float)
    sklearn_common._relocate_empty_clusters_dense(X, np.ones(500), centers, sums, weight, labels)
    expected = sums / weight[:, None]
    np.testing.assert_allclose(new[0], expected, rtol=1e-10)


def test_misaligned_chunk_gives_the_same_partials():
    # a chunk received over the network can be a view at any byte offset
    rng = np.random.default_rng(6)
    X = rng.standard_normal((5000, 6)).astype(np.float32)
    raw = np.empty(X.nbytes + 1, dtype=np.uint8)
    view = np.frombuffer(raw[1:].data, dtype=np.float32).reshape(X.shape)
    view[...] = X
    assert not view.flags.aligned
    centers = rng.standard_normal((1, 4, 6))
    for lean in (False, True):
        a = chunk_partials(X, centers, np.zeros(6), lean=lean)
        b = chunk_partials(view, centers, np.zeros(6), lean=lean)
        np.testing.assert_array_equal(a.sums, b.sums)
        np.testing.assert_array_equal(a.counts, b.counts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d, k", [(9, 40), (24, 6)], ids=["by-centre", "by-row"])
def test_lean_pass_matches_full_pass_over_many_blocks(dtype, weighted, d, k):
    # several row blocks (and a short last one), several groups, and both layouts of the
    # products: by centre (80 centres, 9 features), so that the nearest-centre search spans
    # many SIMD lanes of rows, and by row (12 centres, 24 features)
    assert products_by_row(d, 2 * k) == (k == 6)
    rng = np.random.default_rng(7)
    itemsize = np.dtype(dtype).itemsize
    n = 2 * max(block_rows_for(d, 2 * k, itemsize),
                block_rows_for(d, 2 * k, itemsize, ROW_LAYOUT_BLOCK_BYTES)) + 123
    X = (rng.standard_normal((n, d)) * 2 + 5).astype(dtype)
    centers = rng.standard_normal((2, k, d)) * 2
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    shift = X.mean(0, dtype=np.float64)
    full, labels, _ = chunk_partials(X, centers, shift, w, return_labels=True)
    lean = chunk_partials(X, centers, shift, w, lean=True)
    # the same assignment; sums differ only in the order of float additions
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(lean.counts, full.counts, rtol=1e-12)
    np.testing.assert_allclose(lean.sums, full.sums, rtol=tol, atol=tol * np.abs(full.sums).max())
    np.testing.assert_allclose(lean.inertia + full.sum_wxn, full.inertia, rtol=1e-6)
    weights = np.ones(n) if w is None else w
    for g in range(2):
        ref_labels, _, ref_counts, _, _ = reference(X, centers[g] + shift, weights)
        np.testing.assert_array_equal(labels[g], ref_labels)
        np.testing.assert_allclose(full.counts[g], ref_counts, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b", [1, 3, 4, 1001])
def test_nearest_in_rows_matches_nearest_in_columns(dtype, b):
    # integer-valued products make ties, which both must break on the first centre
    rng = np.random.default_rng(8)
    products = rng.integers(-3, 4, size=(b, 2 * 7)).astype(dtype)
    terms = rng.integers(-3, 4, size=2 * 7).astype(np.float64)
    for group in range(2):
        out = [np.empty(b, dtype=dtype) for _ in range(4)]
        nearest_in_rows(products, terms, 7 * group, 7, out[0], out[1])
        nearest_in_columns(np.ascontiguousarray(products.T), terms, 7 * group, 7, out[2], out[3])
        np.testing.assert_array_equal(out[0], out[2])
        np.testing.assert_array_equal(out[1], out[3])
        v = terms[7 * group: 7 * group + 7] - 2 * products[:, 7 * group: 7 * group + 7]
        np.testing.assert_array_equal(out[1], v.argmin(1))
