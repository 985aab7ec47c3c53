"""Jobs run end to end as a data engineer runs them: ``dkmeans run`` as a real process on real
Parquet, then the output read back from disk and checked against scikit-learn-style fits in
memory.

- ``configs/demo.yaml`` as shipped (a LocalCluster of two worker processes) on generated blobs:
  every row once, the labels of an in-memory ``dkmeans.KMeans``, the published files, a model
  that predicts the same labels; then ``configs/predict.yaml`` on its model.
- Reruns: identical labels, no stale files, also after the input shrank.
- ``nan_policy: skip`` with ``--log-format json``.
- ``dkmeans validate`` leaves nothing behind.
"""

import json
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dkmeans
from dkmeans.config import load_config
from dkmeans.generate import generate_blobs
from dkmeans.io import read_labels, read_manifest
from dkmeans.runner import run_job
from e2e_helpers import (
    CONFIGS,
    files_under,
    label_parts,
    labels_by_row,
    read_input_table,
    read_label_files,
    same_partition,
)
from runner_helpers import job_yaml, run_cli, write_blobs

DEMO_ROWS = 100_000


def _url_overrides(data, out):
    return ["--set", f"input.url={data}", "--set", f"output.url={out}"]


def _assert_clean_exit(result):
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr


# ------------------------------------------------------------------------------------------
# configs/demo.yaml on a LocalCluster of two worker processes, then configs/predict.yaml


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``dkmeans run configs/demo.yaml`` on 100,000 generated rows (16 features, 8 blobs)."""
    root = tmp_path_factory.mktemp("demo")
    data, out = root / "demo-blobs", root / "out"
    generate_blobs(str(data), rows=DEMO_ROWS, features=16, centers=8, seed=0,
                   rows_per_file=25_000)
    result = run_cli("run", CONFIGS / "demo.yaml", *_url_overrides(data, out), cwd=root)
    return SimpleNamespace(root=root, data=data, out=out, result=result)


def test_demo_job_writes_every_row_once_with_the_in_memory_labels(demo):
    _assert_clean_exit(demo.result)
    cfg = load_config(CONFIGS / "demo.yaml")
    assert cfg.cluster.processes and cfg.cluster.n_workers == 2  # worker processes, as shipped

    source = read_input_table(demo.data)
    assert source.num_rows == DEMO_ROWS
    labels = read_label_files(demo.out)
    # one part per input file, every input row exactly once, with its row_id
    assert len(label_parts(demo.out)) == len(list(demo.data.glob("*.parquet"))) == 4
    assert labels.num_rows == DEMO_ROWS
    by_row = labels_by_row(labels)
    assert set(by_row) == set(source["row_id"].to_pylist())
    assert labels.schema.field("cluster").type == pa.int32()
    assert labels.schema.field("distance").type == pa.float32()  # output.distance: true
    assert labels["cluster"].null_count == 0

    # the same rows, the same parameters, fitted in memory by the Python API
    names = [f"x{j}" for j in range(16)]
    X = np.column_stack([source[n].to_numpy() for n in names]).astype(np.float32)
    m = cfg.model
    km = dkmeans.KMeans(n_clusters=m.n_clusters, init=m.init, n_init=m.n_init,
                        max_iter=m.max_iter, tol=m.tol, random_state=m.random_state).fit(X)
    job_labels = np.array([by_row[i] for i in source["row_id"].to_pylist()])
    np.testing.assert_array_equal(job_labels, km.labels_)

    # the published files
    for name in ("_SUCCESS", "metrics.json", "report.html", "model/model.json"):
        assert (demo.out / name).is_file(), name
    assert not list(demo.out.glob("_staging/*")), "staging left behind"
    manifest = read_manifest(str(demo.out))
    assert manifest["total_rows"] == DEMO_ROWS
    metrics = json.loads((demo.out / "metrics.json").read_text())
    assert metrics["rows"] == DEMO_ROWS and metrics["n_clusters"] == 8
    assert metrics["rows_skipped"] == 0
    assert np.isclose(metrics["inertia"], km.inertia_, rtol=1e-5)
    assert metrics["evaluation"]["adjusted_rand"] > 0.9  # 8 blobs, std 1, in [-10, 10]^16
    assert "<html" in (demo.out / "report.html").read_text().lower()

    # the saved model labels the rows as the job did
    model = dkmeans.load_model(str(demo.out))
    assert list(model.feature_names_in_) == names
    np.testing.assert_array_equal(model.predict(source.select(names).to_pandas()), job_labels)


def test_predict_config_labels_new_rows_as_the_fit_did(demo):
    _assert_clean_exit(demo.result)
    out = demo.root / "predicted"
    # threads instead of predict.yaml's two worker processes: the fit above showed those
    result = run_cli("predict", CONFIGS / "predict.yaml", *_url_overrides(demo.data, out),
                     "--set", f"predict.model_url={demo.out}", "--set", "cluster.processes=false",
                     "--set", "cluster.dashboard_address=null", cwd=demo.root)
    _assert_clean_exit(result)
    assert (out / "_SUCCESS").is_file()
    fitted = labels_by_row(read_labels(str(demo.out)))
    predicted = labels_by_row(read_labels(str(out)))
    assert predicted == fitted
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"] == DEMO_ROWS


# ------------------------------------------------------------------------------------------
# reruns


def _published_files(out):
    """What the manifest says was published, plus ``_SUCCESS`` itself."""
    return sorted([f["path"] for f in read_manifest(str(out))["files"]] + ["_SUCCESS"])


def test_rerun_gives_identical_labels_and_leaves_no_stale_files(tmp_path, client):
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=6000, files=3)
    config = tmp_path / "job.yaml"
    config.write_text(job_yaml(data, out))

    first = run_job(load_config(config), client=client)
    files_first = files_under(out)
    labels_first = read_labels(str(out))
    assert files_first == _published_files(out)
    assert [p.name for p in label_parts(out)] == [f"part-0000{i}.parquet" for i in range(3)]

    second = run_job(load_config(config), client=client)
    assert second["run_id"] != first["run_id"]
    assert read_labels(str(out)).equals(labels_first)
    assert files_under(out) == files_first == _published_files(out)
    assert read_manifest(str(out))["run_id"] == second["run_id"]

    # the input shrinks to two files: the third label part must not survive the rerun
    (data / "part-00002.parquet").unlink()
    third = run_job(load_config(config), client=client)
    assert third["rows"] == 4000
    assert [p.name for p in label_parts(out)] == ["part-00000.parquet", "part-00001.parquet"]
    assert files_under(out) == _published_files(out)
    assert sorted(read_labels(str(out))["row_id"].to_pylist()) == list(range(4000))


# ------------------------------------------------------------------------------------------
# nan_policy: skip, with JSON log lines


def test_nan_rows_are_written_with_null_labels_and_counted(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=6000, files=3)
    nan_rows = {5: "x0", 2500: "x3", 2501: "x1", 5999: "x2"}  # in each of the three files
    for path in sorted(data.glob("*.parquet")):
        frame = pq.read_table(path).to_pandas()
        for row, column in nan_rows.items():
            frame.loc[frame["row_id"] == row, column] = np.nan
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    config = tmp_path / "job.yaml"
    config.write_text(job_yaml(data, out).replace("id_columns: [row_id]}",
                                                   "id_columns: [row_id], nan_policy: skip}"))

    result = run_cli("run", config, "--log-format", "json", cwd=tmp_path)
    _assert_clean_exit(result)

    # every stderr line is one JSON object with the standard keys
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any("skipping 4 row(s)" in r["message"] for r in records), result.stderr

    labels = read_labels(str(out)).to_pandas()
    assert sorted(labels["row_id"]) == list(range(6000))  # every row, once
    skipped = labels[labels["row_id"].isin(list(nan_rows))]
    assert skipped["cluster"].isna().all() and skipped["distance"].isna().all()
    kept = labels[~labels["row_id"].isin(list(nan_rows))]
    assert kept["cluster"].notna().all() and kept["distance"].notna().all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"] == 6000 and metrics["rows_skipped"] == 4
    assert sum(metrics["cluster_sizes"]) == 6000 - 4

    # the other rows are clustered as an in-memory fit on the clean rows clusters them
    source = read_input_table(data).to_pandas()
    clean = source[~source["row_id"].isin(list(nan_rows))]
    km = dkmeans.KMeans(n_clusters=4, random_state=0).fit(clean[["x0", "x1", "x2", "x3"]])
    job = kept.set_index("row_id").loc[clean["row_id"], "cluster"].to_numpy()
    assert same_partition(job, km.labels_)


# ------------------------------------------------------------------------------------------
# dkmeans validate


def test_validate_accepts_a_good_config_and_leaves_nothing_behind(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    write_blobs(data, rows=600, files=2)
    config = tmp_path / "job.yaml"
    config.write_text(job_yaml(data, out))
    before = files_under(tmp_path)

    result = run_cli("validate", config, "--log-format", "json", cwd=tmp_path)
    _assert_clean_exit(result)
    assert result.stdout.startswith("ok: 600 rows in 2 file(s)"), result.stdout
    assert files_under(tmp_path) == before
    assert not out.exists()  # not even the folders the writability probe needed
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines), result.stderr
