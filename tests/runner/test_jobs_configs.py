"""The example jobs in ``configs/`` run end to end on data generated into a temporary folder,
loaded as ``dkmeans run`` loads them, with ``input.url`` and ``output.url`` overridden (as
``--set`` does). Their cluster runs as threads in the test's process (``cluster.processes=
false``): worker processes are shown by ``demo.yaml``, whose cluster section these share.

``demo.yaml`` and ``predict.yaml`` run in ``test_jobs_end_to_end.py``, ``existing_cluster.yaml``
in ``test_jobs_existing_cluster.py`` and ``s3.yaml`` in ``test_jobs_s3.py``.
"""

import json

import numpy as np
import pytest

from dkmeans.config import load_config
from dkmeans.generate import generate_blobs, generate_digits
from dkmeans.io import read_labels
from dkmeans.runner import run_job
from e2e_helpers import CONFIGS


def _run_config(name, data, out):
    cfg = load_config(CONFIGS / name, overrides=[f"input.url={data}", f"output.url={out}",
                                                  "cluster.processes=false",
                                                  "cluster.dashboard_address=null"])
    metrics = run_job(cfg)
    assert (out / "_SUCCESS").is_file()
    assert json.loads((out / "metrics.json").read_text())["run_id"] == metrics["run_id"]
    return metrics


def _assert_every_row(out, id_column, n_rows):
    ids = read_labels(str(out))[id_column].to_numpy()
    np.testing.assert_array_equal(np.sort(ids), np.arange(n_rows))


def test_digits_config_finds_the_digits(tmp_path):
    data, out = tmp_path / "digits", tmp_path / "out"
    generate_digits(str(data))
    metrics = _run_config("digits.yaml", data, out)
    assert metrics["rows"] == 1797 and metrics["n_clusters"] == 10
    assert metrics["evaluation"]["accuracy"] >= 0.75, metrics["evaluation"]
    _assert_every_row(out, "image_id", 1797)


def test_select_k_config_chooses_k_and_writes_the_selection(tmp_path):
    data, out = tmp_path / "blobs", tmp_path / "out"
    generate_blobs(str(data), rows=2000, features=4, centers=4, seed=3, cluster_std=0.5,
                   rows_per_file=1000)
    metrics = _run_config("select_k.yaml", data, out)
    selection = json.loads((out / "selection.json").read_text())
    assert [row["k"] for row in selection["candidates"]] == list(range(2, 13))
    assert 2 <= selection["chosen_k"] <= 12
    assert selection["chosen_k"] == metrics["n_clusters"] == metrics["chosen_k"]
    assert selection["chosen_k"] == 4  # four well separated blobs
    labels = read_labels(str(out))
    assert set(labels["cluster"].to_pylist()) == set(range(selection["chosen_k"]))
    _assert_every_row(out, "row_id", 2000)


def test_minibatch_config_runs_end_to_end(tmp_path):
    try:
        from dkmeans import MiniBatchKMeans  # noqa: F401
    except ImportError:
        pytest.xfail("MiniBatchKMeans is not finished yet (from dkmeans import "
                     "MiniBatchKMeans fails)")
    data, out = tmp_path / "blobs", tmp_path / "out"
    generate_blobs(str(data), rows=30_000, features=16, centers=8, seed=0,
                   rows_per_file=10_000)
    metrics = _run_config("minibatch.yaml", data, out)
    assert metrics["algorithm"] == "minibatch"
    assert metrics["rows"] == 30_000 and metrics["n_clusters"] == 8
    assert metrics["evaluation"]["adjusted_rand"] > 0.8, metrics["evaluation"]
    _assert_every_row(out, "row_id", 30_000)
