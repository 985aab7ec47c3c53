"""KMeans against scikit-learn on the same initial centres, on NumPy and Dask input."""

import dask.array as da
import numpy as np
import pytest
from sklearn.cluster import KMeans as SKKMeans
from sklearn.datasets import make_blobs

from dkmeans import KMeans


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(3000, n_features=5, centers=6, cluster_std=1.5, random_state=0)
    return X


def _init(X, k=6, seed=1):
    return X[np.random.default_rng(seed).choice(len(X), k, replace=False)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("as_dask", [False, True])
def test_same_init_same_labels_and_inertia(blobs, dtype, as_dask):
    X = blobs.astype(dtype)
    init = _init(X)
    ref = SKKMeans(6, init=init, n_init=1).fit(X)
    data = da.from_array(X, chunks=(700, 5)) if as_dask else X
    km = KMeans(6, init=init).fit(data)
    labels = km.labels_.compute() if as_dask else km.labels_
    np.testing.assert_array_equal(labels, ref.labels_)
    assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-4)
    assert km.n_iter_ == ref.n_iter_
    assert km.cluster_centers_.dtype == dtype
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-4, atol=1e-4)


def test_sample_weight_matches_scikit_learn(blobs):
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(blobs))
    init = _init(blobs)
    ref = SKKMeans(6, init=init, n_init=1).fit(blobs, sample_weight=w)
    km = KMeans(6, init=init).fit(blobs, sample_weight=w)
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)


def test_empty_cluster_repair_matches_scikit_learn(blobs):
    init = _init(blobs)
    init[2] = [1e3] * 5  # starts with no rows: relocated to the farthest row
    ref = SKKMeans(6, init=init, n_init=1).fit(blobs)
    km = KMeans(6, init=init).fit(blobs)
    assert km.history_[0].n_empty == 1
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)


def test_predict_transform_score_match_scikit_learn(blobs):
    init = _init(blobs)
    ref = SKKMeans(6, init=init, n_init=1).fit(blobs)
    km = KMeans(6, init=init).fit(blobs)
    new = blobs[:200] + 0.3
    np.testing.assert_array_equal(km.predict(new), ref.predict(new))
    np.testing.assert_allclose(km.transform(new), ref.transform(new), rtol=1e-6)
    assert km.score(new) == pytest.approx(ref.score(new), rel=1e-6)
    dnew = da.from_array(new, chunks=(64, 5))
    np.testing.assert_array_equal(km.predict(dnew).compute(), ref.predict(new))
    np.testing.assert_allclose(km.transform(dnew).compute(), ref.transform(new), rtol=1e-6)
    assert km.score(dnew) == pytest.approx(ref.score(new), rel=1e-6)


def test_kmeans_parallel_cost_no_worse_than_kmeans_plusplus():
    X, _ = make_blobs(4000, n_features=8, centers=20, cluster_std=2.0, random_state=3)
    parallel = [KMeans(20, random_state=s).fit(X).inertia_ for s in range(8)]
    plusplus = [KMeans(20, init="k-means++", random_state=s).fit(X).inertia_ for s in range(8)]
    assert np.mean(parallel) <= np.mean(plusplus) * 1.0001


def test_n_init_keeps_the_best_restart(blobs):
    single = [KMeans(6, init="random", n_init=1, random_state=s).fit(blobs).inertia_
              for s in range(5)]
    best = KMeans(6, init="random", n_init=10, random_state=0).fit(blobs)
    assert best.inertia_ <= min(single) * (1 + 1e-9) or best.inertia_ <= np.median(single)
    assert best.inertia_ == pytest.approx(
        -best.score(blobs), rel=1e-9)
