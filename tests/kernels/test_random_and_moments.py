"""Keyed random draws and the moments pass."""

import numpy as np

from dkmeans.kernels.moments import chunk_moments, combine_moments
from dkmeans.kernels.random import keyed_uniform, resolve_seed, stream_key


def test_keyed_draws_do_not_depend_on_chunking():
    key = stream_key(42, 3)
    whole = keyed_uniform(key, 0, 10_000)
    pieces = np.concatenate([keyed_uniform(key, a, b - a)
                             for a, b in [(0, 17), (17, 5000), (5000, 10_000)]])
    np.testing.assert_array_equal(whole, pieces)


def test_keyed_draws_are_uniform_and_streams_differ():
    u = keyed_uniform(stream_key(7, 0), 0, 200_000)
    v = keyed_uniform(stream_key(7, 1), 0, 200_000)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005
    hist = np.histogram(u, bins=10, range=(0, 1))[0]
    assert hist.min() > 19_000
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
    assert not np.array_equal(u, keyed_uniform(stream_key(8, 0), 0, 200_000))


def test_resolve_seed_is_stable_for_ints_and_fresh_for_none():
    assert resolve_seed(5) == resolve_seed(5)
    assert resolve_seed(None) != resolve_seed(None)
    assert resolve_seed(np.random.default_rng(0)) == resolve_seed(np.random.default_rng(0))


def test_moments_match_numpy_and_skip_nonfinite_rows():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 4)) * [1, 10, 100, 1000] + 1e6
    X[[5, 700], 2] = np.nan
    X[900, 0] = np.inf
    parts = [chunk_moments(X[a:b], a) for a, b in [(0, 300), (300, 301), (301, 1000)]]
    m = combine_moments(parts)
    good = np.isfinite(X).all(1)
    assert m.count == good.sum() and m.n_nonfinite == 3 and m.first_nonfinite == 5
    np.testing.assert_allclose(m.mean, X[good].mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.variance, X[good].var(0), rtol=1e-9)


def test_moments_of_float32_and_empty_chunks():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    m = combine_moments([chunk_moments(X[:0]), chunk_moments(X)])
    np.testing.assert_allclose(m.mean, X.mean(0))
    assert m.first_nonfinite == -1


def test_compiled_draws_equal_the_numpy_specification():
    from dkmeans.kernels.random import keyed_uniform_reference

    key = stream_key(123, 9)
    np.testing.assert_array_equal(keyed_uniform(key, 2**40, 5000),
                                  keyed_uniform_reference(key, 2**40, 5000))


def test_moments_count_nonfinite_values_per_feature():
    X = np.ones((50, 3))
    X[[1, 2], 1] = np.nan
    X[7, [0, 2]] = -np.inf
    m = combine_moments([chunk_moments(X[:5]), chunk_moments(X[5:], 5)])
    np.testing.assert_array_equal(m.nonfinite_per_feature, [1, 2, 1])
    assert m.n_nonfinite == 3 and m.first_nonfinite == 1
