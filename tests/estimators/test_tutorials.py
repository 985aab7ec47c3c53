"""scikit-learn tutorial code, unchanged but for the import, reaches the published results."""

import numpy as np
import pytest
from scipy.stats import mode
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import accuracy_score, adjusted_rand_score

from dkmeans import KMeans


def test_unseeded_default_always_finds_three_blobs():
    # scikit-learn's own default misses a blob in about half of unseeded runs here
    X, y_true = make_blobs(n_samples=300, centers=3, cluster_std=0.60, random_state=0)
    for _ in range(25):
        kmeans = KMeans(n_clusters=3)
        kmeans.fit(X)
        y_kmeans = kmeans.predict(X)
        # a missed blob scores about 0.55; the optimum differs from make_blobs on a boundary row
        assert adjusted_rand_score(y_true, y_kmeans) > 0.95


@pytest.mark.parametrize("seed", [8047762962166058626, 7665290636651600459,
                                  4229165897854409314])
def test_seeds_whose_few_candidates_once_missed_a_blob_find_all_three(seed):
    # with only 2k = 6 rows drawn per round, these seeds left a blob without any candidate
    X, y_true = make_blobs(n_samples=300, centers=3, cluster_std=0.60, random_state=0)
    kmeans = KMeans(n_clusters=3, random_state=seed).fit(X)
    assert adjusted_rand_score(y_true, kmeans.labels_) > 0.95


def test_blobs_tutorial_four_centres():
    X, y_true = make_blobs(n_samples=300, centers=4, cluster_std=0.60, random_state=0)
    kmeans = KMeans(n_clusters=4)
    kmeans.fit(X)
    centers = kmeans.cluster_centers_
    assert centers.shape == (4, 2)
    assert adjusted_rand_score(y_true, kmeans.labels_) > 0.95


def test_digits_tutorial_accuracy():
    digits = load_digits()
    kmeans = KMeans(n_clusters=10, random_state=0)
    clusters = kmeans.fit_predict(digits.data)
    assert kmeans.cluster_centers_.shape == (10, 64)
    labels = np.zeros_like(clusters)
    for i in range(10):
        mask = clusters == i
        labels[mask] = mode(digits.target[mask])[0]
    assert accuracy_score(digits.target, labels) > 0.77


def test_digits_benchmark_example_init_plus_plus():
    # the KMeans-on-digits example of scikit-learn's gallery
    data, labels = load_digits(return_X_y=True)
    kmeans = KMeans(init="k-means++", n_clusters=10, n_init=4, random_state=0)
    kmeans.fit(data)
    assert 0.55 < adjusted_rand_score(labels, kmeans.labels_) < 0.8
    kmeans = KMeans(init="random", n_clusters=10, n_init=4, random_state=0)
    kmeans.fit(data)
    assert kmeans.inertia_ < 1.3e6
