"""Secrets given in config, in the environment (``${VAR}``) and in ``storage_options`` end up
in no output file, no log line and no error message; YAML cannot build Python objects; a
LocalCluster's dashboard listens on loopback only by default."""

import textwrap
from pathlib import Path

import pytest

from dkmeans.config import load_config
from dkmeans.errors import ConfigError
from hardening_helpers import small_columns, write_table
from runner_helpers import run_cli

# distinctive values: every file and every line is searched for them
LITERAL_TOKEN = "lit-token-Qx81vZ0a"          # written into the config file itself
ENV_SECRET = "env-secret-Mf27TgW4"            # from the environment through ${DKM_SECRET}
ENV_KEY = "AKIAHARDENING000042"               # from the environment through ${DKM_KEY}
SECRETS = (LITERAL_TOKEN, ENV_SECRET, ENV_KEY)
ENV = {"DKM_SECRET": ENV_SECRET, "DKM_KEY": ENV_KEY}


def _config(data, out, *, features="[x0, x1, x2]"):
    # local paths take (and ignore) storage options, so the job runs as it would on S3
    options = ('{key: "${DKM_KEY}", secret: "${DKM_SECRET}", token: "' + LITERAL_TOKEN + '"}')
    return textwrap.dedent(f"""\
        name: secrets
        input:
          url: "{data}"
          id_columns: [row_id]
          features: {features}
          storage_options: {options}
        model: {{n_clusters: 3, random_state: 0}}
        cluster: {{n_workers: 1, threads_per_worker: 2, processes: false,
                   dashboard_address: null}}
        output:
          url: "{out}"
          mode: overwrite
          storage_options: {options}
        report: {{html: true, performance: true}}
        """)


def _assert_clean(text, where):
    for secret in SECRETS:
        assert secret not in text, (secret, where)


def _assert_no_secret_in_files(root):
    files = [p for p in Path(root).rglob("*") if p.is_file() and p.name != "job.yaml"]
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (secret, path)
    return files


def test_no_secret_in_outputs_logs_or_errors(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    write_table(data, small_columns())
    config = tmp_path / "job.yaml"
    config.write_text(_config(data, out))
    # the secrets really reach the config (or this test would prove nothing)
    cfg = load_config(config, environ=ENV)
    assert cfg.input.storage_options["secret"] == ENV_SECRET
    assert {ENV_SECRET, ENV_KEY, LITERAL_TOKEN} <= set(cfg.secret_values())

    ok = run_cli("run", config, "--log-format", "json", env=ENV, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    files = _assert_no_secret_in_files(out)
    names = {p.relative_to(out).as_posix() for p in files}
    assert {"_SUCCESS", "metrics.json", "model/model.json", "report.html",
            "performance-report.html"} <= names, names
    assert any(n.startswith("labels/part-") for n in names)
    _assert_clean(ok.stdout + ok.stderr, "log of the good run")
    assert '"published' in ok.stderr or "published" in ok.stderr

    # a runtime failure (a column vanished from the data after validation) and a user error
    config.write_text(_config(data, tmp_path / "failed", features="[x0, x9]"))
    bad = run_cli("run", config, env=ENV, cwd=tmp_path)
    assert bad.returncode == 2 and "x9" in bad.stderr, bad.stderr
    _assert_clean(bad.stdout + bad.stderr, "log of the failed run")
    # a runtime failure whose traceback is printed: the output is a file, not a folder
    blocker = tmp_path / "blocker"
    blocker.write_text("in the way")
    config.write_text(_config(data, blocker / "out"))
    unwritable = run_cli("run", config, env=ENV, cwd=tmp_path)
    assert unwritable.returncode != 0 and "blocker" in unwritable.stderr
    _assert_clean(unwritable.stdout + unwritable.stderr, "unwritable output")
    _assert_no_secret_in_files(tmp_path)  # whatever the failed runs left behind


@pytest.mark.parametrize("variable", ["DKM_SECRET", "AWS_SECRET_ACCESS_KEY"])
def test_a_config_error_does_not_quote_a_secret_from_the_environment(variable):
    text = ("name: x\ninput: {url: data/}\noutput: {url: out/}\n"
            f"model: {{n_clusters: \"${{{variable}}}\"}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(text, environ={variable: ENV_SECRET})
    assert "model.n_clusters" in str(err.value)
    assert ENV_SECRET not in str(err.value)


# ------------------------------------------------------------------------------------------
# YAML is loaded safely


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system [\"touch {marker}\"]",
    "!!python/object/new:subprocess.Popen [[\"touch\", \"{marker}\"]]",
    "!!python/name:os.system",
    "!!python/object:dkmeans.config.JobConfig {{}}",
])
def test_python_tags_are_a_config_error_and_run_nothing(tag, tmp_path):
    marker = tmp_path / "ran"
    text = ("name: x\ninput: {url: data/}\nmodel: {n_clusters: 2}\noutput: {url: out/}\n"
            f"report: {tag.format(marker=marker)}\n")
    with pytest.raises(ConfigError) as err:
        load_config(text, environ={})
    assert "line 5" in str(err.value) or "python" in str(err.value).lower(), str(err.value)
    assert not marker.exists()


def test_a_python_tag_through_the_cli_exits_2_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "job.yaml").write_text(
        "name: x\ninput: {url: data/}\n"
        f"model: !!python/object/apply:os.system [\"touch {marker}\"]\noutput: {{url: out/}}\n")
    result = run_cli("validate", tmp_path / "job.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert not marker.exists()


# ------------------------------------------------------------------------------------------
# the dashboard of a LocalCluster


def _http_binds(client):
    server = client.cluster.scheduler.http_server
    return {sock.getsockname()[0] for sock in server._sockets.values()}


@pytest.mark.parametrize("processes", [False, True])
@pytest.mark.parametrize("dashboard", ["default", "null"])
def test_local_cluster_http_endpoints_listen_on_loopback(processes, dashboard):
    from dkmeans.cluster import connect

    extra = "" if dashboard == "default" else ", dashboard_address: null"
    cfg = load_config(
        "name: x\ninput: {url: data/}\nmodel: {n_clusters: 2}\noutput: {url: out/}\n"
        f"cluster: {{n_workers: 1, processes: {str(processes).lower()}{extra}}}\n", environ={})
    if dashboard == "default":
        assert cfg.cluster.dashboard_address.startswith("127.0.0.1:")
    with connect(cfg.cluster) as client:
        assert _http_binds(client) == {"127.0.0.1"}
        if processes:
            assert client.scheduler.address.startswith("tcp://127.0.0.1:")
            for worker in client.scheduler_info()["workers"]:
                assert worker.startswith("tcp://127.0.0.1:")
