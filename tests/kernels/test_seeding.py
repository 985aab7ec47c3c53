"""k-means++ and k-means|| kernels."""

import numpy as np
import pytest

from dkmeans.kernels import seeding

from dkmeans.kernels.kmeans_parallel import (
    chunk_candidate_weights,
    chunk_sample,
    chunk_update_nearest,
    keep_sampled,
    recluster,
    weighted_lloyd,
)
from dkmeans.kernels.random import keyed_uniform_reference, stream_key
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


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("duplicated", [False, True])
def test_pairwise_and_blockwise_kmeans_plusplus_pick_the_same_rows(monkeypatch, weighted,
                                                                    duplicated):
    # small inputs take the pairwise compiled loop, large ones BLAS blocks; forcing each on the
    # same rows must give the same seeds. With fewer distinct rows than k, once every distinct
    # row is a seed the rest are picked among rounding-level distances: any row will do there
    X, _, _ = blobs(n=600, k=8, d=4)
    if duplicated:
        X = np.repeat(X[:3], 200, axis=0)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X)) if weighted else None
    shift = X.mean(0)
    picks = {}
    for limit in (0, seeding.PAIRWISE_MAX_ROWS):
        monkeypatch.setattr(seeding, "PAIRWISE_MAX_ROWS", limit)
        centers, idx = kmeans_plusplus(X, 8, rng=np.random.default_rng(3), sample_weight=w,
                                       shift=shift)
        np.testing.assert_array_equal(centers, X[idx])
        picks[limit] = idx
    if duplicated:
        for idx in picks.values():
            assert len(np.unique(X[idx[:3]], axis=0)) == 3
    else:
        np.testing.assert_array_equal(picks[0], picks[seeding.PAIRWISE_MAX_ROWS])


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
        sample = chunk_sample(X, state, key=stream_key(0, r), oversampling=10.0, cost=cost,
                              row_offset=0)
        rows, index = sample.rows, sample.index
        np.testing.assert_array_equal(rows, X[index])
        counts.append(len(index))
    assert 7 < np.mean(counts) < 13
    state2, cost2 = chunk_update_nearest(X, rows, state, shift=shift, offset=1)
    assert cost2 <= cost and (state2[0] <= state[0]).all()
    weights = chunk_candidate_weights(state2, 1 + len(rows))
    assert weights.sum() == len(X)


@pytest.mark.parametrize("weighted", [False, True])
def test_samples_drawn_against_chunk_costs_narrow_to_the_sample_at_the_total(weighted):
    # each chunk draws against its own cost (a lower bound of the total) and the reduction
    # narrows as the costs add up: the end result must be exactly the draw at the total cost
    X, _, _ = blobs(n=20_000)
    w = np.random.default_rng(2).uniform(0.0, 3.0, len(X)) if weighted else None
    shift = X.mean(0)
    bounds = [0, 3000, 3001, 9000, 20_000]
    chunks = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        wa = None if w is None else w[a:b]
        state, cost = chunk_update_nearest(X[a:b], X[:1], None, shift=shift, offset=0,
                                           sample_weight=wa)
        chunks.append((state, cost, wa))
    total = (chunks[0][1] + chunks[1][1]) + (chunks[2][1] + chunks[3][1])
    whole_state = tuple(np.concatenate([c[0][i] for c in chunks]) for i in range(3))
    key = stream_key(5, 1)
    exact = chunk_sample(X, whole_state, key=key, oversampling=40.0, cost=total, row_offset=0,
                         sample_weight=w)
    local = [chunk_sample(X[a:b], state, key=key, oversampling=40.0, cost=cost, row_offset=a,
                          sample_weight=wa)
             for a, b, (state, cost, wa) in zip(bounds[:-1], bounds[1:], chunks)]
    assert sum(len(s.index) for s in local) > len(exact.index)  # supersets, really narrowed
    pair_costs = (chunks[0][1] + chunks[1][1], chunks[2][1] + chunks[3][1])
    narrowed = keep_sampled([keep_sampled(local[:2], pair_costs[0]),
                             keep_sampled(local[2:], pair_costs[1])], total)
    for field in exact._fields:
        np.testing.assert_array_equal(getattr(narrowed, field), getattr(exact, field))
    assert 20 < len(exact.index) < 60


@pytest.mark.parametrize("weighted", [False, True])
def test_sample_is_the_rows_whose_draw_is_below_their_share_of_the_cost(weighted):
    # the definition, in NumPy: u * cost < l * w * D^2, with u the row's keyed draw
    X, _, _ = blobs(n=5000)
    rng = np.random.default_rng(4)
    w = rng.uniform(0.0, 3.0, len(X)) if weighted else None
    if weighted:
        w[::7] = 0.0  # rows without weight are never drawn
    best_d2 = rng.exponential(size=len(X))
    best_d2[::11] = 0.0  # nor rows on a candidate
    state = (best_d2, np.zeros(len(X), np.int64), np.zeros(len(X)))
    key, offset, cost = stream_key(3, 2), 12_345, float(best_d2.sum()) / 2
    sample = chunk_sample(X, state, key=key, oversampling=30.0, cost=cost, row_offset=offset,
                          sample_weight=w)
    u = keyed_uniform_reference(key, offset, len(X))
    scores = 30.0 * (1.0 if w is None else w) * best_d2
    picked = np.flatnonzero(u * cost < scores)
    assert 20 < len(picked) < 200
    np.testing.assert_array_equal(sample.index, picked + offset)
    np.testing.assert_array_equal(sample.draws, u[picked])
    np.testing.assert_array_equal(sample.scores, scores[picked])
    np.testing.assert_array_equal(sample.rows, X[picked].astype(np.float64))


def test_recluster_finds_the_blobs():
    X, _, true_centers = blobs(n=5000, k=4, spread=30)
    rng = np.random.default_rng(0)
    candidates = X[rng.choice(len(X), 60, replace=False)]
    state, _ = chunk_update_nearest(X, candidates, None, shift=X.mean(0), offset=0)
    weights = chunk_candidate_weights(state, 60)
    centers = recluster(candidates, weights, 4, rng=rng, shift=X.mean(0))
    d = ((centers[:, None] - true_centers[None]) ** 2).sum(-1)
    assert (d.min(0) < 1.0).all()


def test_recluster_tries_run_side_by_side_with_the_same_result():
    X, _, _ = blobs(n=4000, k=12, d=5, spread=10)
    rng = np.random.default_rng(3)
    candidates = X[rng.choice(len(X), 200, replace=False)]
    state, _ = chunk_update_nearest(X, candidates, None, shift=X.mean(0), offset=0)
    weights = chunk_candidate_weights(state, 200)
    results = [recluster(candidates, weights, 12, rng=np.random.default_rng(8), shift=X.mean(0),
                         n_trials=5, n_threads=threads) for threads in (1, 2, 5)]
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    # and the best try's cost is the lowest of the tries, each tried alone
    tries = [weighted_lloyd(candidates, weights,
                            kmeans_plusplus(candidates, 12, rng=g, sample_weight=weights,
                                            shift=X.mean(0))[0], shift=X.mean(0))
             for g in np.random.default_rng(8).spawn(5)]
    best = min(tries, key=lambda t: t[1])
    np.testing.assert_allclose(results[0], best[0], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_round_sweep_matches_numpy(dtype):
    # one candidate: distances and row norms come from a direct sweep, not a product
    X = (blobs(n=5000, d=6)[0] + 100.0).astype(dtype)  # far from the origin, as real data is
    shift = X.astype(np.float64).mean(0)
    state, cost = chunk_update_nearest(X, X[7:8], None, shift=shift, offset=0)
    x64 = X.astype(np.float64)
    np.testing.assert_allclose(state[0], ((x64 - x64[7]) ** 2).sum(1), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(state[2], ((x64 - shift) ** 2).sum(1), rtol=1e-12)
    assert state[0][7] == 0.0 and (state[1] == 0).all()
    np.testing.assert_allclose(cost, state[0].sum(), rtol=1e-12)
    # later rounds reuse the norms: same result as measuring them afresh
    later, _ = chunk_update_nearest(X, X[100:110], state, shift=shift, offset=1)
    fresh, _ = chunk_update_nearest(X, X[100:110], (state[0], state[1], np.full(5000, np.nan)),
                                    shift=shift, offset=1)
    # (float32 norms measured afresh carry float32 rounding; the sweep's are exact in float64)
    atol = 1e-9 if dtype == np.float64 else 1e-5 * float(fresh[0].mean())
    np.testing.assert_allclose(later[0], fresh[0], rtol=0, atol=atol)
    assert np.mean(later[1] == fresh[1]) > 0.999


@pytest.mark.parametrize("pruned", [False, True])
def test_a_round_updates_an_owned_state_in_place_to_the_same_values(pruned, monkeypatch):
    from dkmeans.kernels import distances

    if pruned:  # rows grouped by their nearest earlier candidate, whatever the cost rule says
        monkeypatch.setattr(distances, "GROUPING_COST", 0)
        monkeypatch.setattr(distances, "PRUNED_WORK_SHARE", 1.0)
    X = blobs(n=6000, k=8, d=4, seed=3)[0].astype(np.float32)
    shift = X.astype(np.float64).mean(0)
    first, _ = chunk_update_nearest(X, X[:1], None, shift=shift, offset=0)
    state, _ = chunk_update_nearest(X, X[1:41], first, shift=shift, offset=1)
    earlier = X[:41] if pruned else None
    before = tuple(a.copy() for a in state)
    copied, cost = chunk_update_nearest(X, X[41:81], state, shift=shift, offset=41,
                                        earlier=earlier)
    assert all(np.array_equal(a, b) for a, b in zip(state, before))  # left as it was
    updated, owned_cost = chunk_update_nearest(X, X[41:81], state, shift=shift, offset=41,
                                               earlier=earlier, overwrite_state=True)
    assert updated[0] is state[0] and updated[1] is state[1]
    for a, b in zip(updated, copied):
        np.testing.assert_array_equal(a, b)
    assert owned_cost == cost and not np.array_equal(updated[1], before[1])
