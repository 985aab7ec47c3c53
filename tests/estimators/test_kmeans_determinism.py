"""A fixed random_state gives the same result whatever the workers and chunking."""

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster
from sklearn.datasets import make_blobs

from dkmeans import KMeans


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(20_000, n_features=6, centers=10, cluster_std=2.0, random_state=7)
    return X.astype(np.float32)


def _fit(X, chunks, **kw):
    return KMeans(10, random_state=11, **kw).fit(da.from_array(X, chunks=(chunks, 6)))


def test_rerun_is_bitwise_identical(data):
    a, b = _fit(data, 3000), _fit(data, 3000)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.inertia_ == b.inertia_


def test_one_or_two_workers_give_bitwise_identical_centres(data, dask_cluster):
    with Client(dask_cluster):
        two = _fit(data, 2500)
        two_labels = two.labels_.compute()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as one_cluster, Client(one_cluster):
        one = _fit(data, 2500)
        one_labels = one.labels_.compute()
    local = _fit(data, 2500)
    assert np.array_equal(one.cluster_centers_, two.cluster_centers_)
    assert np.array_equal(one.cluster_centers_, local.cluster_centers_)
    np.testing.assert_array_equal(one_labels, two_labels)


def test_labels_do_not_depend_on_chunking(data):
    runs = [_fit(data, c) for c in (1000, 2500, 7001, 20_000)]
    ref = runs[0].labels_.compute()
    for run in runs[1:]:
        np.testing.assert_array_equal(run.labels_.compute(), ref)
        # float32 block sums round differently at other block boundaries: centres agree to
        # float32 precision at the data's scale (values of order 10), labels exactly
        np.testing.assert_allclose(run.cluster_centers_, runs[0].cluster_centers_, rtol=1e-5,
                                   atol=1e-4)
    numpy_run = KMeans(10, random_state=11).fit(data)
    np.testing.assert_array_equal(numpy_run.labels_, ref)


def test_unseeded_runs_differ_in_their_draws(data):
    a = KMeans(10, max_iter=1, init="random").fit(data)
    b = KMeans(10, max_iter=1, init="random").fit(data)
    assert not np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_grouped_kmeans_parallel_rounds_keep_the_guarantees(monkeypatch):
    # many centres and features: later k-means|| rounds measure each row only against the
    # candidates that can come nearer, in BLAS products whose shapes depend on the chunk
    from dkmeans.kernels import distances

    X, _ = make_blobs(12_000, n_features=64, centers=100, cluster_std=1.0, random_state=3)
    X = X.astype(np.float32)
    grouped = []
    original = distances._improve_pruned
    monkeypatch.setattr(distances, "_improve_pruned",
                        lambda *a: grouped.append(original(*a)) or grouped[-1])

    def fit(chunks):
        return KMeans(100, random_state=5, n_init=1).fit(da.from_array(X, chunks=(chunks, 64)))

    first, again = fit(3000), fit(3000)
    assert any(grouped)
    assert np.array_equal(first.cluster_centers_, again.cluster_centers_)
    labels = first.labels_.compute()
    for chunks in (1000, 4001):
        np.testing.assert_array_equal(fit(chunks).labels_.compute(), labels)
