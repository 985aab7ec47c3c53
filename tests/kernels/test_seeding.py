"""k-means++ and k-means|| kernels."""

import numpy as np

from dkmeans.kernels.kmeans_parallel import (
    chunk_candidate_weights,
    chunk_sample,
    chunk_update_nearest,
    recluster,
)
from dkmeans.kernels.random import stream_key
from dkmeans.kernels.seeding import chunk_smallest_keys, combine_smallest_keys, kmeans_plusplus


def blobs(n=3000, k=5, d=3, seed=0, spread=20.0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-spread, spread, (k, d))
    labels = rng.integers(0, k, n)
    return centers[labels] + rng.standard_normal((n, d)), labels, centers


def test_kmeans_plusplus_one_seed_per_blob():
    X, labels, _ = blobs()
    _, idx = kmeans_plusplus(X, 5, rng=np.random.default_rng(0))
    assert len(set(labels[idx])) == 5


def test_kmeans_plusplus_never_picks_zero_weight_rows():
    X, _, _ = blobs()
    w = np.zeros(len(X))
    w[::3] = 1.0
    for seed in range(5):
        _, idx = kmeans_plusplus(X, 5, rng=np.random.default_rng(seed), sample_weight=w)
        assert (w[idx] > 0).all()


def test_smallest_keys_do_not_depend_on_chunking():
    X, _, _ = blobs()
    key = stream_key(1, 0)
    whole = chunk_smallest_keys(X, key, 0, 10)
    parts = [chunk_smallest_keys(X[a:b], key, a, 10) for a, b in [(0, 1000), (1000, 3000)]]
    merged = combine_smallest_keys(parts, 10)
    np.testing.assert_array_equal(np.sort(whole[2]), np.sort(merged[2]))


def test_sampling_draws_about_l_rows_and_weights_add_up():
    X, _, _ = blobs(n=20_000)
    shift = X.mean(0)
    state, cost = chunk_update_nearest(X, X[:1], None, shift=shift, offset=0)
    counts = []
    for r in range(20):
        rows, index = chunk_sample(X, state, key=stream_key(0, r), oversampling=10.0,
                                   cost=cost, row_offset=0)
        np.testing.assert_array_equal(rows, X[index])
        counts.append(len(index))
    assert 7 < np.mean(counts) < 13
    state2, cost2 = chunk_update_nearest(X, rows, state, shift=shift, offset=1)
    assert cost2 <= cost and (state2[0] <= state[0]).all()
    weights = chunk_candidate_weights(state2, 1 + len(rows))
    assert weights.sum() == len(X)


def test_recluster_finds_the_blobs():
    X, _, true_centers = blobs(n=5000, k=4, spread=30)
    rng = np.random.default_rng(0)
    candidates = X[rng.choice(len(X), 60, replace=False)]
    state, _ = chunk_update_nearest(X, candidates, None, shift=X.mean(0), offset=0)
    weights = chunk_candidate_weights(state, 60)
    centers = recluster(candidates, weights, 4, rng=rng, shift=X.mean(0))
    d = ((centers[:, None] - true_centers[None]) ** 2).sum(-1)
    assert (d.min(0) < 1.0).all()
