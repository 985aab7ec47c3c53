"""Bad input data: every case either works (and says so when the result is degenerate) or
fails with the exception (exit code) a data engineer expects, a message naming the culprit
(file, column or key), and nothing published.

Jobs run in process on a threaded cluster (``run_job`` as ``dkmeans run`` calls it); a few
cases go through the command line for the exit code and the absence of a traceback.
"""

import os
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

import dkmeans
from hardening_helpers import job_text, published, small_columns, write_table
from dkmeans.config import load_config
from dkmeans.errors import InputDataError, StorageError
from dkmeans.io import read_labels
from dkmeans.monitor.hooks import JobObserver
from dkmeans.runner import run_job
from e2e_helpers import same_partition
from runner_helpers import run_cli


def _run(data, out, client, *, k=3, extra="", overrides=(), observers=()):
    cfg = load_config(job_text(data, out, k=k, extra=extra), overrides=list(overrides),
                      environ={})
    return run_job(cfg, client=client, observers=observers)


def _with(column, values, n=120):
    cols = small_columns(n)
    cols[column] = values
    return cols


# ------------------------------------------------------------------------------------------
# input that must be refused: (id, build(folder), k, overrides, words in the message)


def _drift_type(folder):
    write_table(folder, small_columns(60))
    cols = small_columns(60, seed=1)
    cols["x1"] = cols["x1"].astype(str)
    write_table(folder, cols, name="part-00001.parquet")


def _drift_missing(folder):
    write_table(folder, small_columns(60))
    cols = small_columns(60, seed=1)
    del cols["x2"]
    write_table(folder, cols, name="part-00001.parquet")


def _all_null(folder):
    write_table(folder, _with("x1", pa.nulls(120, pa.float64())))


def _all_null_in_second_file(folder):
    write_table(folder, small_columns(60))
    cols = small_columns(60, seed=1)
    cols["x2"] = pa.nulls(60, pa.float64())
    write_table(folder, cols, name="part-00001.parquet")


def _inf(folder):
    x0 = small_columns()["x0"].copy()
    x0[17] = -np.inf
    write_table(folder, _with("x0", x0))


def _huge_float32(folder):
    # the blobs scaled up to 3e38 (float32 holds up to 3.4e38): squares overflow float32
    cols = small_columns()
    factor = 3e38 / max(np.abs(cols[f"x{j}"]).max() for j in range(3))
    write_table(folder, {"row_id": cols["row_id"],
                         **{f"x{j}": (cols[f"x{j}"] * factor).astype(np.float32)
                            for j in range(3)}})


def _single_row(folder):
    write_table(folder, {"row_id": [7], "x0": [1.0], "x1": [2.0], "x2": [3.0]})


def _truncated(folder):
    write_table(folder, small_columns(60))
    path = write_table(folder, small_columns(60, seed=1), name="part-00001.parquet")
    path.write_bytes(path.read_bytes()[:300])


def _not_parquet(folder):
    write_table(folder, small_columns(60))
    (folder / "notes.txt").write_text("rows exported by hand, see the wiki\n")


def _only_zero_rows(folder):
    write_table(folder, {k: v[:0] for k, v in small_columns().items()})


REFUSED = [
    ("schema-drift-type", _drift_type, 3, [], ["x1", "part-00001.parquet", "string"]),
    ("schema-drift-missing-column", _drift_missing, 3, [], ["x2", "part-00001.parquet",
                                                             "missing"]),
    ("all-null-column", _all_null, 3, [], ["x1", "part-00000.parquet", "nan_policy"]),
    ("all-null-column-in-one-file", _all_null_in_second_file, 3, "",
     ["x2", "part-00001.parquet"]),
    ("all-null-column-skipped-leaves-no-row", _all_null, 3, ["input.nan_policy=skip"],
     ["model.n_clusters", "0 usable"]),
    ("infinity", _inf, 3, [], ["x0", "part-00000.parquet", "nan_policy"]),
    ("1e38-in-float32", _huge_float32, 3, [], ["column x", "too large", "float32", "input.dtype"]),
    ("single-row-k3", _single_row, 3, [], ["model.n_clusters", "k=3", "1 usable"]),
    ("truncated-file", _truncated, 3, [], ["part-00001.parquet", "not a readable parquet"]),
    ("non-parquet-file", _not_parquet, 3, [], ["notes.txt", "not a readable parquet"]),
    ("only-zero-row-files", _only_zero_rows, 3, [], ["no rows"]),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_data_is_refused_naming_the_culprit(case, tmp_path, threads_client):
    _, build, k, overrides, words = case
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    build(data)
    with pytest.raises(InputDataError) as err:
        _run(data, out, threads_client, k=k, overrides=overrides)
    message = str(err.value).lower()
    for word in words:
        assert word.lower() in message, (word, str(err.value))
    assert not published(out)


# ------------------------------------------------------------------------------------------
# a file that vanishes between listing and reading; a corrupt footer


class DeleteWhenReading(JobObserver):
    """Deletes a file when the job starts reading (after it listed the input)."""

    def __init__(self, path):
        self.path = path

    def on_phase_start(self, name, total=None):
        if name == "read":
            os.remove(self.path)


def test_a_file_vanishing_after_listing_fails_naming_it(tmp_path, threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    for i in range(3):
        write_table(data, small_columns(60, seed=i), name=f"part-{i:05d}.parquet")
    gone = data / "part-00001.parquet"
    with pytest.raises(StorageError, match=r"part-00001\.parquet") as err:
        _run(data, out, threads_client, observers=[DeleteWhenReading(gone)])
    assert "No such file" in str(err.value)
    assert not published(out)


def _corrupt_footer(folder):
    """Two good files, then one whose footer metadata (not its magic bytes) is garbage."""
    for i in range(2):
        write_table(folder, small_columns(60, seed=i), name=f"part-{i:05d}.parquet")
    path = write_table(folder, small_columns(60, seed=2), name="part-00002.parquet")
    raw = bytearray(path.read_bytes())
    footer_len = int.from_bytes(raw[-8:-4], "little")
    start = len(raw) - 8 - footer_len
    raw[start:len(raw) - 8] = bytes(range(256)) * (footer_len // 256) + b"\xff" * (
        footer_len % 256)
    path.write_bytes(bytes(raw))
    return path


def test_corrupt_footer_fails_naming_the_file_through_the_cli(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    _corrupt_footer(data)
    (tmp_path / "job.yaml").write_text(job_text(data, out))
    result = run_cli("run", tmp_path / "job.yaml")
    assert result.returncode in (1, 2), result.stderr
    assert "part-00002.parquet" in result.stderr
    assert not published(out)


def test_corrupt_footer_is_an_input_error(tmp_path, threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    _corrupt_footer(data)
    with pytest.raises(InputDataError, match=r"part-00002\.parquet"):
        _run(data, out, threads_client)


def test_huge_values_through_the_cli_exit_2_without_a_traceback(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    _huge_float32(data)
    (tmp_path / "job.yaml").write_text(job_text(data, out))
    result = run_cli("run", tmp_path / "job.yaml")
    assert result.returncode == 2, result.stderr
    assert "too large" in result.stderr and "Traceback" not in result.stderr
    assert not published(out)


# ------------------------------------------------------------------------------------------
# odd input that must work


def _labels(out):
    return read_labels(str(out)).to_pandas()


def test_constant_columns_work_with_and_without_scaling(tmp_path, threads_client):
    data = tmp_path / "data"
    write_table(data, _with("x2", np.full(120, 5.0)))
    plain = _run(data, tmp_path / "plain", threads_client)
    scaled = _run(data, tmp_path / "scaled", threads_client,
                  overrides=["preprocess.scale=standard"])
    for metrics in (plain, scaled):
        assert sorted(metrics["cluster_sizes"]) == sorted(np.bincount(
            _labels(tmp_path / "plain")["cluster"]))
        assert np.isfinite(metrics["inertia"])
    assert same_partition(_labels(tmp_path / "plain")["cluster"],
                          _labels(tmp_path / "scaled")["cluster"])


@pytest.mark.parametrize("distinct", [1, 2])
def test_fewer_distinct_points_than_k_finish_with_a_warning(distinct, tmp_path,
                                                           threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    points = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])[np.arange(90) % distinct]
    write_table(data, {"row_id": np.arange(90), **{f"x{j}": points[:, j] for j in range(3)}})
    with pytest.warns(dkmeans.ConvergenceWarning, match=f"distinct clusters \\({distinct}\\)"):
        metrics = _run(data, out, threads_client, k=3)
    assert metrics["inertia"] == pytest.approx(0.0, abs=1e-6)
    labels = _labels(out)
    assert labels["cluster"].nunique() == distinct and len(labels) == 90
    assert sorted(metrics["cluster_sizes"], reverse=True)[:distinct] == [90 // distinct] * distinct


def test_duplicates_through_the_cli_log_the_warning(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    write_table(data, {"row_id": np.arange(50), "x0": np.ones(50), "x1": np.zeros(50)})
    (tmp_path / "job.yaml").write_text(job_text(data, out, k=4))
    result = run_cli("run", tmp_path / "job.yaml")
    assert result.returncode == 0, result.stderr
    assert "distinct clusters (1)" in result.stderr and "Traceback" not in result.stderr
    assert (out / "_SUCCESS").is_file()


def test_a_single_row_with_k_1(tmp_path, threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    _single_row(data.mkdir() or data)
    metrics = _run(data, out, threads_client, k=1)
    labels = _labels(out)
    assert labels["row_id"].tolist() == [7] and labels["cluster"].tolist() == [0]
    assert labels["distance"].tolist() == [0.0] and metrics["inertia"] == 0.0


def test_zero_row_files_among_good_ones(tmp_path, threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    cols = small_columns(150)
    write_table(data, {k: v[:0] for k, v in cols.items()}, name="part-00000.parquet")
    write_table(data, {k: v[:70] for k, v in cols.items()}, name="part-00001.parquet")
    write_table(data, {k: v[:0] for k, v in cols.items()}, name="part-00002.parquet")
    write_table(data, {k: v[70:] for k, v in cols.items()}, name="part-00003.parquet")
    metrics = _run(data, out, threads_client)
    labels = _labels(out)
    assert metrics["rows"] == 150
    assert sorted(labels["row_id"]) == list(range(150))
    reference = dkmeans.KMeans(3, random_state=0).fit(
        np.column_stack([cols[f"x{j}"] for j in range(3)]).astype(np.float32))
    assert same_partition(labels.sort_values("row_id")["cluster"], reference.labels_)


def test_null_ids_are_carried_through(tmp_path, threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    ids = pa.array([None if i % 7 == 0 else i for i in range(120)], pa.int64())
    write_table(data, _with("row_id", ids))
    _run(data, out, threads_client)
    labels = read_labels(str(out))
    assert labels.num_rows == 120
    assert labels["row_id"].null_count == ids.null_count
    assert labels["row_id"].to_pylist() == ids.to_pylist()  # order kept, nulls where they were
    assert labels["cluster"].null_count == 0


def test_infinity_skipped_by_policy_gets_a_null_label(tmp_path, threads_client):
    data, out = tmp_path / "data", tmp_path / "out"
    _inf(data.mkdir() or data)
    metrics = _run(data, out, threads_client, overrides=["input.nan_policy=skip"])
    labels = _labels(out).set_index("row_id")
    assert metrics["rows_skipped"] == 1
    assert np.isnan(labels.loc[17, "cluster"]) and labels["cluster"].notna().sum() == 119


@pytest.mark.parametrize("remedy", [["input.dtype=float64"], ["preprocess.scale=standard"]])
def test_huge_values_work_with_the_remedy_the_error_names(remedy, tmp_path, threads_client):
    data = tmp_path / "data"
    _huge_float32(data.mkdir() or data)
    metrics = _run(data, tmp_path / "out", threads_client, overrides=remedy)
    assert np.isfinite(metrics["inertia"])
    # the partition of the blobs at their own scale, same remedy (k-means is invariant to a
    # uniform scale)
    write_table(tmp_path / "unscaled", small_columns())
    _run(tmp_path / "unscaled", tmp_path / "out-unscaled", threads_client, overrides=remedy)
    assert same_partition(_labels(tmp_path / "out")["cluster"],
                          _labels(tmp_path / "out-unscaled")["cluster"])


def test_large_but_representable_values_give_the_right_partition(tmp_path, threads_client):
    cols = small_columns()
    # values near 1e16 square to 1e32, well inside float32: no refusal, the right answer
    for name, factor in (("scaled", 1e16), ("plain", 1.0)):
        scaled = {k: (v * factor).astype(np.float32) if k != "row_id" else v
                  for k, v in cols.items()}
        write_table(tmp_path / name, scaled)
        _run(tmp_path / name, tmp_path / f"out-{name}", threads_client)
    assert same_partition(_labels(tmp_path / "out-scaled")["cluster"],
                          _labels(tmp_path / "out-plain")["cluster"])


# ------------------------------------------------------------------------------------------
# the estimators: sparse and object arrays


ESTIMATORS = [dkmeans.KMeans, dkmeans.MiniBatchKMeans]
X_GOOD = np.random.default_rng(0).normal(size=(60, 3))


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_is_refused_saying_dense_is_required(estimator, fmt):
    X = sp.random(60, 3, density=0.5, format=fmt, random_state=0)
    with pytest.raises(TypeError, match="dense data is required"):
        estimator(3, random_state=0, n_init=1).fit(X)
    fitted = estimator(3, random_state=0, n_init=1).fit(X.toarray())
    with pytest.raises(TypeError, match="dense data is required"):
        fitted.predict(X)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_numeric_object_arrays_fit_as_float64(estimator):
    as_object = estimator(3, random_state=0, n_init=1).fit(X_GOOD.astype(object))
    as_float = estimator(3, random_state=0, n_init=1).fit(X_GOOD)
    assert as_object.cluster_centers_.dtype == np.float64
    np.testing.assert_array_equal(as_object.cluster_centers_, as_float.cluster_centers_)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("values, error, words", [
    (np.array([["a", "b", "c"]] * 60, dtype=object), ValueError, "'a'"),
    (np.where(X_GOOD > 1, None, X_GOOD).astype(object), ValueError, "NaN or infinity"),
    ([[1.0, 2.0], [3.0]] * 30, ValueError, "inhomogeneous"),
], ids=["strings", "none-values", "ragged"])
def test_bad_object_arrays_are_refused(estimator, values, error, words):
    with pytest.raises(error, match=words):
        estimator(3, random_state=0, n_init=1).fit(values)


def test_estimator_refuses_values_that_overflow_float32():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="too large"):
            dkmeans.KMeans(3, random_state=0, n_init=1).fit(
                (X_GOOD * 1e38).astype(np.float32))
