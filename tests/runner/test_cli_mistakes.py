"""Every config or input mistake: non-zero exit, the culprit named, no traceback for a user
mistake, and nothing published."""

import pytest

from runner_helpers import job_yaml, run_cli, write_blobs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("mistakes")
    write_blobs(root / "good")
    (root / "empty").mkdir()
    write_blobs(root / "tiny", rows=3, files=1)
    corrupt = root / "corrupt"
    write_blobs(corrupt, files=2)
    (corrupt / "part-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    strings = root / "strings"
    strings.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"row_id": [1, 2, 3, 4, 5], "x0": [1.0, 2, 3, 4, 5],
                             "city": ["a", "b", "c", "d", "e"], "label": [0, 1, 0, 1, 0]}),
                   strings / "part-0.parquet")
    nan = root / "nan"
    write_blobs(nan, files=1)
    table = pq.read_table(nan / "part-00000.parquet").to_pandas()
    table.loc[7, "x2"] = float("nan")
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), nan / "part-00000.parquet")
    # a regular file where a folder is needed: unwritable even for root
    (root / "a-file").write_text("not a folder")
    yield root


def _base(data, out):
    return job_yaml(data / "good", out)


CASES = [
    # (id, config text (from the base), overrides, expected exit, words the message must hold)
    ("yaml-syntax", lambda d, o: _base(d, o) + "model: [unclosed\n", [], 2, ["line"]),
    ("unknown-key", lambda d, o: _base(d, o).replace("n_clusters", "n_clusterz"), [], 2,
     ["n_clusterz", "n_clusters"]),
    ("wrong-type", lambda d, o: _base(d, o), ["model.n_clusters=many"], 2, ["model.n_clusters"]),
    ("bad-enum", lambda d, o: _base(d, o), ["model.algorithm=elkan"], 2, ["model.algorithm"]),
    ("negative-iter", lambda d, o: _base(d, o), ["model.max_iter=-3"], 2, ["model.max_iter"]),
    ("unset-variable", lambda d, o: _base(d, o).replace(str(d / "good"), "${NO_SUCH_VAR}/x"),
     [], 2, ["NO_SUCH_VAR"]),
    ("bad-override-path", lambda d, o: _base(d, o), ["model.n_clustres=3"], 2,
     ["n_clustres"]),
    ("missing-input", lambda d, o: _base(d, o).replace(str(d / "good"), str(d / "absent")),
     [], 2, ["absent"]),
    ("missing-column", lambda d, o: _base(d, o), ["input.features=[x0,x9]"], 2, ["x9"]),
    ("non-numeric-column", lambda d, o: job_yaml(d / "strings", o), ["input.features=[x0,city]",
                                                                     "model.n_clusters=2"],
     2, ["city"]),
    ("k-larger-than-rows", lambda d, o: job_yaml(d / "tiny", o), [], 2, ["n_clusters", "3"]),
    ("empty-input", lambda d, o: job_yaml(d / "empty", o), [], 2, ["empty"]),
    ("corrupt-file", lambda d, o: job_yaml(d / "corrupt", o), [], 2, ["part-00001.parquet"]),
    ("unwritable-output", lambda d, o: job_yaml(d / "good", d / "a-file" / "out"), [], 2,
     ["output.url", "a-file"]),
    ("nan-values", lambda d, o: job_yaml(d / "nan", o), [], 2, ["x2", "nan_policy"]),
    ("label-column-missing", lambda d, o: _base(d, o).replace("label_column: label",
                                                              "label_column: truth"),
     [], 2, ["truth"]),
    ("both-k-and-range", lambda d, o: _base(d, o), ["model.k_range=[2,5]"], 2, ["k_range"]),
    ("unreachable-scheduler", lambda d, o: job_yaml(
        d / "good", o, cluster="{address: 'tcp://127.0.0.1:1', timeout: 2}"),
     [], 1, ["127.0.0.1:1"]),
    ("tls-certificate-missing", lambda d, o: job_yaml(  # the CA file is there, the cert not
        d / "good", o, cluster="{address: 'tls://127.0.0.1:1', timeout: 2, tls: {ca_file: "
        f"'{d / 'good' / 'part-00000.parquet'}', cert: '{d / 'no.pem'}'}}}}"),
     [], 2, ["cluster.tls.cert", "no.pem"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_mistake_exits_nonzero_names_culprit_publishes_nothing(case, data, tmp_path):
    name, make, overrides, code, words = case
    out = tmp_path / "out"
    config = tmp_path / "job.yaml"
    config.write_text(make(data, out))
    args = ["run", str(config)] + [a for o in overrides for a in ("--set", o)]
    result = run_cli(*args)
    assert result.returncode != 0, result.stdout + result.stderr
    if code is not None:
        assert result.returncode == code, result.stderr
    message = result.stderr.lower()
    for word in words:
        assert word.lower() in message, (word, result.stderr)
    assert "traceback" not in message  # a user mistake, or a scheduler not there: one line
    assert not (out / "_SUCCESS").exists()
    assert not (out / "labels").exists()


def test_validate_checks_the_tls_files_without_contacting_the_cluster(data, tmp_path):
    # `dkmeans validate` catches a missing certificate as `run` would, before any night run
    out = tmp_path / "out"
    config = tmp_path / "job.yaml"
    config.write_text(job_yaml(
        data / "good", out, cluster="{address: 'tls://127.0.0.1:1', timeout: 2, tls: {ca_file: "
        f"'{data / 'good' / 'part-00000.parquet'}', cert: '{tmp_path / 'no.pem'}'}}}}"))
    result = run_cli("validate", str(config))
    assert result.returncode == 2, result.stderr
    assert "cluster.tls.cert" in result.stderr and "no.pem" in result.stderr
    assert "traceback" not in result.stderr.lower()
    assert not out.exists() or not any(out.iterdir())
