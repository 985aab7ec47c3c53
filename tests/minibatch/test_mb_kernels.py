"""Mini-batch kernels against a few lines of NumPy and against scikit-learn's own step.

Kernel tests never import dask.
"""

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans
from sklearn.cluster._kmeans import _mini_batch_step

from dkmeans.kernels.minibatch import (
    EarlyStopping,
    MiniBatchState,
    StepOutcome,
    batch_indices,
    batch_partials,
    chunk_order,
    minibatch_update,
    reassignment_due,
    reassignment_mask,
    sample_indices,
    shuffled_rows,
    step_bounds,
    step_on_rows,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5)) * 2 + 50.0  # far from the origin: centring matters
    w = rng.uniform(0.5, 2.0, size=600)
    return X, w, X[rng.choice(600, 7, replace=False)].copy()


def test_batch_partials_match_numpy(data):
    X, w, C = data
    shift = X.mean(axis=0)
    p = batch_partials(X, C - shift, shift, w)
    d2 = ((X[:, None, :] - C[None]) ** 2).sum(-1)
    labels = d2.argmin(1)
    sums = np.zeros_like(C)
    np.add.at(sums, labels, w[:, None] * (X - shift))
    np.testing.assert_allclose(p.sums[0], sums, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(p.counts[0], np.bincount(labels, w, minlength=7), rtol=1e-12)
    np.testing.assert_allclose(p.inertia[0], (w * d2.min(1)).sum(), rtol=1e-10)


def test_update_is_running_weighted_mean():
    rng = np.random.default_rng(1)
    centers, sums = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    counts, batch = np.array([0.0, 5.0, 2.0, 9.0]), np.array([3.0, 0.0, 1.0, 2.0])
    new, new_counts = minibatch_update(centers, counts, sums, batch)
    expected = centers.copy()
    hit = batch > 0
    expected[hit] = (centers[hit] * counts[hit, None] + sums[hit]) / (counts + batch)[hit, None]
    np.testing.assert_allclose(new, expected, rtol=1e-14)
    np.testing.assert_array_equal(new_counts, counts + batch)
    np.testing.assert_array_equal(new[1], centers[1])  # no weight this batch: unmoved


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_steps_equal_sklearn_mini_batch_step(data, dtype, rtol):
    X, w, C = data
    X, w = X.astype(dtype), w.astype(dtype)
    sk_centers, sk_new = C.astype(dtype), np.empty_like(C, dtype=dtype)
    sk_counts = np.zeros(7, dtype=dtype)
    state = MiniBatchState.start(C, X.mean(axis=0, dtype=np.float64), seed=0)
    for t in range(6):
        b = slice(t * 100, (t + 1) * 100)
        sk_inertia = _mini_batch_step(X[b], w[b], sk_centers, sk_new, sk_counts,
                                      np.random.RandomState(0), random_reassign=False)
        sk_centers, sk_new = sk_new, sk_centers
        outcome = step_on_rows(state, X[b], w[b], reassignment_ratio=0.0)
        np.testing.assert_allclose(outcome.inertia, sk_inertia, rtol=rtol)
    np.testing.assert_allclose(state.centers + state.shift, sk_centers, rtol=rtol)
    np.testing.assert_allclose(state.counts, sk_counts, rtol=rtol)
    assert state.n_steps == 6


def test_reassignment_matches_sklearn_rule(data):
    X, w, C = data
    batch = X[:40]
    C[[1, 3, 5]] += 1000.0  # far from every row: they get nothing and stay starved
    counts = np.array([100.0, 0.0, 50.0, 0.5, 80.0, 0.2, 60.0])
    sk_counts, sk_new = counts.copy(), np.empty_like(C)
    _mini_batch_step(batch, np.ones(40), C.copy(), sk_new, sk_counts, np.random.RandomState(0),
                     random_reassign=True, reassignment_ratio=0.01)
    state = MiniBatchState.start(C, X.mean(axis=0), seed=3)
    state.counts = counts.copy()
    outcome = step_on_rows(state, batch, np.ones(40), reassignment_ratio=0.01)
    np.testing.assert_allclose(state.counts, sk_counts)  # same centres reset, same floor
    moved_sk = ~np.isclose(sk_new, C).all(axis=1)
    moved = ~np.isclose(state.centers + state.shift, C).all(axis=1)
    assert outcome.n_reassigned == 3
    # the starved centres jump to distinct rows of the batch
    targets = state.centers[[1, 3, 5]] + state.shift
    assert all(np.isclose(batch, t).all(axis=1).any() for t in targets)
    assert len({tuple(t) for t in targets}) == 3
    assert set(np.flatnonzero(moved_sk)) >= {1, 3, 5} and set(np.flatnonzero(moved)) >= {1, 3, 5}


def test_reassignment_mask_caps_at_half_a_batch():
    counts = np.array([0.0, 0.0, 0.0, 0.0, 100.0])
    mask = reassignment_mask(counts, 0.01, batch_rows=4)
    assert mask.sum() == 2 and not mask[4]


def test_reassignment_due_every_ten_k_rows():
    counts = np.ones(3)
    due, n = reassignment_due(counts, 0, 10)
    assert not due and n == 10
    due, n = reassignment_due(counts, n, 20)
    assert due and n == 0
    due, _ = reassignment_due(np.array([1.0, 0.0, 1.0]), 0, 1)  # an empty centre: at once
    assert due


def test_early_stopping_equals_sklearn_convergence():
    rng = np.random.default_rng(2)
    inertias = 100 * np.exp(-np.arange(60) / 10) + rng.uniform(0, 3, 60) + 50
    sk = SkMiniBatchKMeans(max_no_improvement=4)
    sk._batch_size, sk._tol = 10, 0.0
    sk._ewa_inertia = sk._ewa_inertia_min = None
    sk._no_improvement = 0
    mine = EarlyStopping(batch_size=10, n_samples=100, tol=0.0, max_no_improvement=4)
    for step, inertia in enumerate(inertias):
        stop_sk = sk._mini_batch_convergence(step, 60, 100, 0.0, inertia * 10)
        stop = mine.update(StepOutcome(inertia * 10, 0.0, 10, 0))
        assert stop == stop_sk
        if sk._ewa_inertia is not None:
            assert mine.ewa_inertia == pytest.approx(sk._ewa_inertia, rel=1e-12)
        if stop:
            break
    assert stop and step < 59


def test_early_stopping_on_small_center_change():
    mine = EarlyStopping(batch_size=10, n_samples=100, tol=1e-3, max_no_improvement=None)
    assert not mine.update(StepOutcome(10.0, 0.0, 10, 0))  # first step never stops
    assert not mine.update(StepOutcome(10.0, 1.0, 10, 0))
    assert mine.update(StepOutcome(10.0, 1e-4, 10, 0))


def test_keyed_draws_are_deterministic_and_in_range():
    a = batch_indices(7, 3, 1000, 256)
    np.testing.assert_array_equal(a, batch_indices(7, 3, 1000, 256))
    assert a.min() >= 0 and a.max() < 1000
    assert not np.array_equal(a, batch_indices(7, 4, 1000, 256))
    for n, m in [(1000, 10), (1000, 400), (1000, 5000)]:
        s = sample_indices(5, n, m)
        assert len(s) == min(n, m) == len(np.unique(s)) and s.max() < n
    np.testing.assert_array_equal(np.sort(chunk_order(1, 0, 9)), np.arange(9))
    np.testing.assert_array_equal(np.sort(shuffled_rows(1, 2, 100, 50)), np.arange(50))
    bounds = step_bounds(10, 3)
    assert bounds[0] == 0 and bounds[-1] == 10 and np.all(np.diff(bounds) >= 3)
