"""Quality measures against scikit-learn's, and the scaler against NumPy."""

import numpy as np
import pytest
from sklearn import metrics as skm

from dkmeans import evaluation
from dkmeans.kernels.moments import chunk_moments
from dkmeans.preprocess import Scaler


@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 5, 3000).astype(float) * 10
    clusters = np.where(rng.uniform(size=3000) < 0.8, classes / 10, rng.integers(0, 6, 3000))
    return clusters.astype(np.int32), classes


def test_external_scores_match_scikit_learn(labelled):
    clusters, classes = labelled
    parts = [evaluation.contingency_chunk(clusters[a:b], classes[a:b])
             for a, b in [(0, 1000), (1000, 1001), (1001, 3000)]]
    scores = evaluation.external_scores(evaluation.combine_contingency(parts))
    assert scores["adjusted_rand"] == pytest.approx(skm.adjusted_rand_score(classes, clusters))
    assert scores["normalized_mutual_info"] == pytest.approx(
        skm.normalized_mutual_info_score(classes, clusters))
    table = skm.cluster.contingency_matrix(clusters, classes)
    assert scores["accuracy"] == pytest.approx(table.max(axis=1).sum() / 3000)


def test_skipped_rows_are_left_out_of_the_table():
    pairs = evaluation.contingency_chunk(np.array([0, -1, 1, 1]), np.array([3.0, 3.0, 4.0, 4.0]))
    assert pairs == {(0, 3.0): 1, (1, 4.0): 2}


def test_internal_scores_match_scikit_learn():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(c, 1.0, (100, 3)) for c in (0, 5, 10)])
    labels = np.repeat([0, 1, 2], 100)
    labels[::17] = 1
    assert evaluation.silhouette(X, labels) == pytest.approx(skm.silhouette_score(X, labels))
    assert evaluation.davies_bouldin(X, labels) == pytest.approx(
        skm.davies_bouldin_score(X, labels))


def test_choose_k_prefers_highest_silhouette_then_smaller_k():
    rows = [{"k": 2, "silhouette": 0.5}, {"k": 3, "silhouette": 0.7},
            {"k": 4, "silhouette": 0.7}, {"k": 5, "silhouette": float("nan")}]
    assert evaluation.choose_k(rows) == 3


def test_standard_scaler_matches_numpy_and_round_trips():
    rng = np.random.default_rng(2)
    X = rng.normal([1, 100, -5], [1, 20, 0], (500, 3))
    scaler = Scaler.fit("standard", chunk_moments(X))
    Z = scaler.transform_block(X)
    np.testing.assert_allclose(Z[:, :2].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(0), 1, rtol=1e-12)
    np.testing.assert_allclose(Z[:, 2], 0)  # a constant feature keeps scale 1
    np.testing.assert_allclose(scaler.inverse(Z), X, rtol=1e-12)
    again = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform_block(X), Z)
