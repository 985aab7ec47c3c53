"""Nearest-centre updates: rows skipping centres that cannot come nearer find the same nearest
centres.

Skipping changes the shapes of the BLAS products, and OpenBLAS rounds a product's entries
differently for different shapes, so results are compared with a tolerance of the order of
that rounding (the products are taken in the data's dtype), never bit for bit.
"""

import numpy as np
import pytest

from dkmeans.kernels import distances
from dkmeans.kernels.distances import nearest_centers


def _blobs(n, d, k, spread, dtype, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-spread, spread, (k, d))
    X = centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))
    return (X + 50.0).astype(dtype)  # off the origin: the shift matters


def _rounding(X, centres):
    """Bound on the rounding of a squared distance computed in the dtype of ``X``."""
    shift = X.mean(0).astype(np.float64)
    norms = ((X - shift) ** 2).sum(1).max() + ((centres - shift) ** 2).sum(1).max()
    return 4 * X.shape[1] * np.finfo(X.dtype).eps * norms


def _assert_nearest(X, every, idx, d2):
    """``idx``/``d2`` are a nearest centre of every row and its distance, as brute force in
    float64 finds them, up to rounding."""
    tol = _rounding(X, every)
    brute = ((X.astype(np.float64)[:, None, :] - every[None]) ** 2).sum(-1)
    nearest = brute.min(1)
    np.testing.assert_allclose(d2, nearest, rtol=0, atol=tol)
    assert (brute[np.arange(len(X)), idx] <= nearest + tol).all()


def _two_rounds(X, earlier, new, *, pruned):
    shift = X.mean(0).astype(np.float64)
    norms = np.full(len(X), np.nan)
    best_idx, best_d2 = nearest_centers(X, earlier, shift=shift, row_norms=norms)
    return nearest_centers(X, new, shift=shift, best_d2=best_d2.copy(),
                           best_idx=best_idx.copy(), offset=len(earlier), row_norms=norms,
                           earlier=earlier if pruned else None)


@pytest.fixture
def always_grouped(monkeypatch):
    """Rows grouped whenever that skips any pair, however small the shapes."""
    monkeypatch.setattr(distances, "GROUPING_COST", 0)
    monkeypatch.setattr(distances, "PRUNED_WORK_SHARE", 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d, k", [(2, 5), (9, 40), (64, 120)])
def test_skipping_centres_changes_nothing(dtype, d, k, always_grouped):
    X = _blobs(6000, d, k, spread=30.0, dtype=dtype)
    # distinct rows, as k-means|| draws them (a row on a candidate is never drawn again)
    picked = X[np.random.default_rng(1).choice(len(X), 3 * k, replace=False)]
    earlier, new = picked[:k].astype(np.float64), picked[k:].astype(np.float64)
    every = np.concatenate([earlier, new])
    full_idx, full_d2 = _two_rounds(X, earlier, new, pruned=False)
    idx, d2 = _two_rounds(X, earlier, new, pruned=True)
    _assert_nearest(X, every, full_idx, full_d2)
    _assert_nearest(X, every, idx, d2)
    # only rows within rounding of two centres may pick another one
    assert np.mean(idx == full_idx) > 0.999
    np.testing.assert_allclose(d2, full_d2, rtol=0, atol=_rounding(X, every))


def test_separated_clusters_are_measured_against_few_centres(monkeypatch):
    X = _blobs(8000, 64, 30, spread=40.0, dtype=np.float32)
    rng = np.random.default_rng(2)
    earlier = X[rng.choice(len(X), 60, replace=False)].astype(np.float64)
    new = X[rng.choice(len(X), 60, replace=False)].astype(np.float64)
    taken = []
    original = distances._improve_pruned
    monkeypatch.setattr(distances, "_improve_pruned",
                        lambda *a: taken.append(original(*a)) or taken[-1])
    _two_rounds(X, earlier, new, pruned=True)
    assert taken == [True]
    # where every pair would still be measured, the full pass runs instead
    taken.clear()
    monkeypatch.setattr(distances, "PRUNED_WORK_SHARE", 0.0)
    idx, d2 = _two_rounds(X, earlier, new, pruned=True)
    assert taken == [False]
    full_idx, full_d2 = _two_rounds(X, earlier, new, pruned=False)
    np.testing.assert_array_equal(idx, full_idx)  # the same full pass
    np.testing.assert_array_equal(d2, full_d2)


def test_few_cheap_centres_are_measured_in_full(monkeypatch):
    # 16 features and 8 new centres: grouping the rows would cost more than it saves
    X = _blobs(8000, 16, 8, spread=40.0, dtype=np.float32)
    taken = []
    original = distances._improve_pruned
    monkeypatch.setattr(distances, "_improve_pruned",
                        lambda *a: taken.append(original(*a)) or taken[-1])
    _two_rounds(X, X[:8].astype(np.float64), X[8:16].astype(np.float64), pruned=True)
    assert taken == [False]


def test_rows_on_centres_duplicates_and_a_misaligned_chunk(always_grouped):
    X = _blobs(3001, 5, 8, spread=20.0, dtype=np.float32)
    X[100:200] = X[0]  # many copies of a row that is also a centre
    earlier = np.concatenate([X[:1], X[500:520]]).astype(np.float64)
    new = np.concatenate([X[:1], X[1000:1030]]).astype(np.float64)  # a centre given twice
    raw = np.empty(X.nbytes + 1, dtype=np.uint8)[1:].view(np.float32).reshape(X.shape)
    raw[:] = X
    assert not raw.flags.aligned
    every = np.concatenate([earlier, new])
    results = [_two_rounds(data, earlier, new, pruned=True) for data in (X, raw)]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    idx, d2 = results[0]
    _assert_nearest(X, every, idx, d2)
    # rows on a centre stay with the first of its copies, at distance zero
    assert (idx[100:200] == 0).all() and (d2[100:200] <= _rounding(X, every)).all()
