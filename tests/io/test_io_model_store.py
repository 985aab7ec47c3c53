"""Model persistence: model/centroids.parquet + model/model.json, loaded back only when published."""

import json

import numpy as np
import pandas as pd
import pytest

from dkmeans.errors import StorageError, UserInputError
from dkmeans.io import OutputWriter, read_manifest, read_model, save_model

CENTERS = np.array([[0.0, 1.5, -2.0], [10.0, 11.0, 12.0]], dtype=np.float32)
NAMES = ["recency", "frequency", "monetary"]
PREPROCESS = {"scale": "standard", "mean": np.array([1.0, 2.0, 3.0]),
              "scale_": np.array([0.5, 0.25, 2.0])}
PARAMS = {"n_clusters": 2, "init": "k-means||", "random_state": 42, "tol": 1e-4}


def test_save_and_read_model_round_trip(tmp_path):
    url = str(tmp_path / "model-out")
    manifest = save_model(url, CENTERS, NAMES, params=PARAMS, preprocess=PREPROCESS,
                          inertia=12.5, n_iter=7, input_fingerprint="abc123")
    assert {f["path"] for f in manifest["files"]} == {"model/centroids.parquet",
                                                      "model/model.json"}
    meta, centers = read_model(url)
    assert centers.dtype == np.float32 and centers.shape == (2, 3)
    np.testing.assert_array_equal(centers, CENTERS)
    assert meta["feature_names"] == NAMES and meta["n_clusters"] == 2 and meta["dtype"] == "float32"
    assert meta["params"] == PARAMS and meta["inertia"] == 12.5 and meta["n_iter"] == 7
    assert meta["preprocess"]["mean"] == [1.0, 2.0, 3.0]
    assert meta["input_fingerprint"] == "abc123" and meta["dkmeans_version"]
    # Readable by other tools: one row per centre, one column per feature.
    df = pd.read_parquet(tmp_path / "model-out" / "model" / "centroids.parquet")
    assert list(df.columns) == NAMES and len(df) == 2
    assert read_manifest(url)["input_fingerprint"] == "abc123"


def test_float64_centres_round_trip_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 4))
    save_model(str(tmp_path / "m"), centers, list("abcd"), algorithm="lloyd", dtype="float32")
    meta, back = read_model(str(tmp_path / "m"))
    assert back.dtype == np.float64 and np.array_equal(back, centers)
    assert meta["dtype"] == "float32" and meta["centers_dtype"] == "float64"
    assert meta["algorithm"] == "lloyd"


def test_model_is_only_read_from_a_published_output(tmp_path):
    url = tmp_path / "m"
    save_model(str(url), CENTERS, NAMES)
    (url / "_SUCCESS").unlink()
    with pytest.raises(StorageError, match="not a published dkmeans output"):
        read_model(str(url))
    with OutputWriter(str(tmp_path / "labels-only")) as w:
        w.stage_json("metrics.json", {})
        w.publish()
    with pytest.raises(StorageError, match="holds no model"):
        read_model(str(tmp_path / "labels-only"))


def test_inconsistent_model_files_are_reported(tmp_path):
    url = tmp_path / "m"
    save_model(str(url), CENTERS, NAMES)
    meta = json.loads((url / "model" / "model.json").read_text())
    meta["feature_names"] = ["a", "b", "c"]
    (url / "model" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(StorageError, match="inconsistent"):
        read_model(str(url))


def test_bad_centres_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="shape"):
        save_model(str(tmp_path / "m"), CENTERS, NAMES[:2])
    with pytest.raises(UserInputError, match="distinct"):
        save_model(str(tmp_path / "m"), CENTERS, ["a", "a", "b"])
    assert not (tmp_path / "m" / "_SUCCESS").exists()


def test_load_model_returns_a_fitted_kmeans(tmp_path):
    """Needs ``dkmeans.estimators.KMeans`` (another layer); deliberately not skipped."""
    from dkmeans.io import load_model

    url = str(tmp_path / "m")
    save_model(url, CENTERS, NAMES, params=PARAMS, preprocess=PREPROCESS, inertia=12.5, n_iter=7)
    est = load_model(url)
    assert type(est).__name__ == "KMeans"
    np.testing.assert_array_equal(est.cluster_centers_, CENTERS)
    assert est.n_clusters == 2 and est.n_features_in_ == 3
    assert list(est.feature_names_in_) == NAMES
    assert est.inertia_ == 12.5 and est.n_iter_ == 7
    assert est.preprocess_["scale"] == "standard"
    new = pd.DataFrame([[0.0, 1.5, -2.0], [9.0, 11.0, 12.0]], columns=NAMES, dtype=np.float32)
    labels = est.predict(new)
    assert list(np.asarray(labels)) == [0, 1]
