"""jobs/run_job.sh, run for real with small fake `dkmeans` executables."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "jobs" / "run_job.sh"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "flock", "timeout", "sha256sum", "realpath")),
    reason="run_job.sh needs bash, flock (util-linux) and coreutils",
)

FAKES = {
    # prints its arguments to stdout, a line to stderr, exits 0
    "printer": 'echo "args: $*"\necho "to stderr" >&2\n',
    # exits with the code in FAKE_EXIT
    "exiter": 'echo "exiting with $FAKE_EXIT"\nexit "$FAKE_EXIT"\n',
    # says it started, then waits for the file FAKE_RELEASE (at most 20 s)
    "waiter": ('touch "$FAKE_STARTED"\necho "waiting"\n'
               'for _ in $(seq 400); do [ -e "$FAKE_RELEASE" ] && break; sleep 0.05; done\n'
               'echo "released"\n'),
    # sleeps far longer than the tests' time limit
    "sleeper": 'echo "going to sleep"\nsleep 30\necho "woke up"\n',
}


@pytest.fixture
def env(tmp_path):
    """A config file, fake executables, and the script's environment pointing into tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        path = bin_dir / name
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)
    (tmp_path / "nightly.yaml").write_text("name: nightly\n")
    return {
        **os.environ,
        "DKMEANS_BIN": str(bin_dir / "printer"),
        "DKMEANS_LOCK_DIR": str(tmp_path / "locks"),
        "DKMEANS_LOG_DIR": str(tmp_path / "logs"),
        "FAKE_STARTED": str(tmp_path / "started"),
        "FAKE_RELEASE": str(tmp_path / "release"),
    }


def fake(env, name: str) -> str:
    return str(Path(env["DKMEANS_BIN"]).with_name(name))


def run(env, *args, cwd=None, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], env={**env, **extra},
                          cwd=cwd, capture_output=True, text=True, timeout=30)


def start(env, *args, **extra) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(SCRIPT), *map(str, args)], env={**env, **extra},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def logs(env) -> list[Path]:
    folder = Path(env["DKMEANS_LOG_DIR"])
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_exit_code_passed_through(env, tmp_path, code):
    result = run(env, tmp_path / "nightly.yaml", DKMEANS_BIN=fake(env, "exiter"),
                 FAKE_EXIT=str(code))
    assert result.returncode == code
    assert f"exiting with {code}" in result.stdout
    assert f"finished with exit code {code}" in result.stdout


def test_arguments_and_log_file(env, tmp_path):
    result = run(env, tmp_path / "nightly.yaml", "--set", "model.n_clusters=12", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = str((tmp_path / "nightly.yaml").resolve())
    assert f"args: run {config} --set model.n_clusters=12" in result.stdout
    assert "to stderr" in result.stdout  # stderr of dkmeans is teed with its stdout
    [log] = logs(env)
    assert re.fullmatch(r"nightly-\d{8}T\d{6}Z\.log", log.name)
    text = log.read_text()
    assert f"args: run {config} --set model.n_clusters=12" in text
    assert "to stderr" in text
    assert "finished with exit code 0" in text
    assert "model.n_clusters=12" not in text.splitlines()[0]  # extra arguments not echoed


def test_default_log_dir_is_relative_to_the_working_directory(env, tmp_path):
    env = {k: v for k, v in env.items() if k != "DKMEANS_LOG_DIR"}
    work = tmp_path / "work"
    work.mkdir()
    assert run(env, tmp_path / "nightly.yaml", cwd=work).returncode == 0
    [log] = (work / "logs").iterdir()
    assert log.name.startswith("nightly-")


def test_second_run_is_refused_while_the_first_holds_the_lock(env, tmp_path):
    config = tmp_path / "nightly.yaml"
    first = start(env, config, DKMEANS_BIN=fake(env, "waiter"))
    try:
        wait_for(tmp_path / "started")
        # the same config by a relative path from elsewhere shares the lock
        second = run(env, os.path.relpath(config, tmp_path / "bin"), cwd=tmp_path / "bin")
        assert second.returncode == 75
        assert "another run of" in second.stderr and str(config.resolve()) in second.stderr
        assert "args:" not in second.stdout  # dkmeans was not started
        # another config is not blocked
        other = tmp_path / "other.yaml"
        other.write_text("name: other\n")
        assert run(env, other).returncode == 0
    finally:
        (tmp_path / "release").touch()
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "released" in out
    assert run(env, config).returncode == 0  # the lock is free again
    assert len([p for p in logs(env) if p.name.startswith("nightly-")]) >= 1


def test_time_limit(env, tmp_path):
    started = time.monotonic()
    result = run(env, tmp_path / "nightly.yaml", DKMEANS_BIN=fake(env, "sleeper"),
                 DKMEANS_TIMEOUT="1s", DKMEANS_KILL_AFTER="2s")
    assert result.returncode == 124
    assert time.monotonic() - started < 10
    assert "going to sleep" in result.stdout and "woke up" not in result.stdout
    assert "time limit 1s reached" in result.stdout
    [log] = logs(env)
    assert "time limit 1s reached" in log.read_text()
    # the killed run released the lock
    assert run(env, tmp_path / "nightly.yaml").returncode == 0


@pytest.mark.parametrize("args, code, message", [
    ((), 64, "usage:"),
    (("missing.yaml",), 2, "config file not found: missing.yaml"),
])
def test_usage_errors(env, tmp_path, args, code, message):
    result = run(env, *args, cwd=tmp_path)
    assert result.returncode == code
    assert message in result.stderr
    assert logs(env) == []


def test_missing_dkmeans_binary_is_an_error(env, tmp_path):
    result = run(env, tmp_path / "nightly.yaml", DKMEANS_BIN=str(tmp_path / "nope"))
    assert result.returncode == 127  # timeout's "command not found"


def test_killing_the_launcher_keeps_the_lock_until_dkmeans_ends(env, tmp_path):
    """dkmeans inherits the lock: an orphaned run still blocks the next one."""
    config = tmp_path / "nightly.yaml"
    first = start(env, config, DKMEANS_BIN=fake(env, "waiter"))
    try:
        wait_for(tmp_path / "started")
        first.kill()  # the launcher only; dkmeans (here the waiter) runs on
        first.wait(timeout=10)
        assert run(env, config).returncode == 75
    finally:
        (tmp_path / "release").touch()
        first.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while (result := run(env, config)).returncode == 75:  # the waiter exits within ~50 ms
        assert time.monotonic() < deadline, "lock never released"
        time.sleep(0.05)
    assert result.returncode == 0
