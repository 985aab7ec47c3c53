"""Jobs side by side: two jobs with different outputs on one cluster do not interfere; two
runs writing the same output cannot both publish; every Dask key a job makes is its own."""

import json
import subprocess
import sys
import threading

import dask.array as da
import numpy as np
import pytest

from dkmeans.config import load_config
from dkmeans.io import read_labels
from dkmeans.runner import run_job
from hardening_helpers import job_text
from runner_helpers import write_blobs


def _in_threads(*jobs):
    """Run the callables at once in threads; returns their results or exceptions."""
    results = [None] * len(jobs)

    def call(i):
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # noqa: BLE001 - the caller checks what each run did
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _job(data, out, client, *, k=4, seed=0, mode="overwrite"):
    text = job_text(data, out, k=k).replace("random_state: 0", f"random_state: {seed}")
    cfg = load_config(text, overrides=[f"output.mode={mode}"], environ={})
    return lambda: run_job(cfg, client=client)


def test_two_jobs_on_one_cluster_give_what_each_gives_alone(tmp_path, threads_client):
    for name, seed, centers in (("a", 1, 4), ("b", 2, 6)):
        write_blobs(tmp_path / name, rows=4000, centers=centers, files=3, seed=seed)
    alone = [_job(tmp_path / n, tmp_path / f"alone-{n}", threads_client, k=k)()
             for n, k in (("a", 4), ("b", 6))]
    together = _in_threads(*[_job(tmp_path / n, tmp_path / f"together-{n}", threads_client, k=k)
                             for n, k in (("a", 4), ("b", 6))])
    for name, solo, metrics in zip("ab", alone, together):
        assert not isinstance(metrics, Exception), metrics
        assert metrics["inertia"] == solo["inertia"]
        labels = read_labels(str(tmp_path / f"together-{name}"))
        assert labels.equals(read_labels(str(tmp_path / f"alone-{name}")))
        sizes = np.bincount(labels["cluster"].to_numpy(), minlength=metrics["n_clusters"])
        assert metrics["cluster_sizes"] == sizes.tolist()


@pytest.mark.parametrize("mode", ["error", "overwrite"])
def test_two_runs_on_the_same_output_leave_one_consistent_result(mode, tmp_path,
                                                                  threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=3000, files=3)
    results = _in_threads(_job(data, out, threads_client, seed=1, mode=mode),
                          _job(data, out, threads_client, seed=2, mode=mode))
    won = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Exception)]
    if mode == "error":  # at most one may publish into an output that must not be replaced
        assert len(won) == 1, results
        assert str(out) in str(failed[0]) or "publish" in str(failed[0]).lower(), failed
    # whatever happened, what is published is one run's whole result
    manifest = json.loads((out / "_SUCCESS").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert manifest["run_id"] == metrics["run_id"] in {r["run_id"] for r in won}
    labels = read_labels(str(out))
    assert sorted(labels["row_id"].to_pylist()) == list(range(3000))
    sizes = np.bincount(labels["cluster"].to_numpy(), minlength=4)
    assert metrics["cluster_sizes"] == sizes.tolist()
    # no staged file of either run is left; a run that failed keeps its checkpoint to resume
    # from (it may have saved one after the winner's publish cleared the staging folder)
    left = [p.name for p in (out / "_staging").glob("*")] if (out / "_staging").exists() else []
    assert all(name.startswith("checkpoint-") for name in left), left


# ------------------------------------------------------------------------------------------
# every key a job makes is unique to its inputs


def test_preprocess_and_evaluation_keys_differ_between_inputs():
    from dkmeans.fitting import assignment  # noqa: F401 - the module whose names were fixed
    from dkmeans.preprocess import Scaler, prepare_features

    a, b = da.ones((10, 2), chunks=5), da.zeros((10, 2), chunks=5)
    scaler = Scaler("standard", np.zeros(2), np.ones(2))
    (xa, wa), (xb, wb) = (prepare_features(x, scaler, skip_nonfinite=True) for x in (a, b))
    assert xa.name != xb.name and wa.name != wb.name
    assert xa.name.startswith("dkmeans-preprocess-") and wa.name.startswith("dkmeans-row-weights-")


def test_cluster_size_keys_differ_between_label_arrays():
    from dkmeans.assign import cluster_sizes

    a = da.zeros(10, chunks=5, dtype=np.int32)
    b = da.ones(10, chunks=5, dtype=np.int32)
    assert cluster_sizes(a, 2).name != cluster_sizes(b, 2).name


def test_layer_names_differ_between_processes():
    code = "from dkmeans.dist.graph import layer_names; print(layer_names('lloyd')['partials'])"
    names = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip() for _ in range(2)}
    assert len(names) == 2, names
