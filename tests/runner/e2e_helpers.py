"""Helpers for the end-to-end job tests: reading what a job left behind, as a user would."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from runner_helpers import REPO

CONFIGS = REPO / "configs"
BIN = Path(sys.executable).parent


def free_port():
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files_under(root):
    """Every file below ``root``, as sorted relative POSIX paths (directories left out)."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def label_parts(out):
    """The ``labels/part-*.parquet`` files of an output folder, in name order."""
    return sorted((Path(out) / "labels").glob("part-*.parquet"))


def read_label_files(out):
    """Every label part under ``out/labels/`` read straight from disk (not via the manifest)."""
    return pa.concat_tables([pq.read_table(p) for p in label_parts(out)])


def labels_by_row(table, id_column="row_id"):
    """``{id: cluster}`` of a label table, checking each id occurs once."""
    ids = table[id_column].to_numpy()
    assert len(np.unique(ids)) == len(ids), "an input row appears more than once in labels/"
    return dict(zip(ids.tolist(), table["cluster"].to_pylist()))


def read_input_table(folder):
    """All Parquet files of an input folder, in file name order (the job's row order)."""
    return pa.concat_tables([pq.read_table(p) for p in sorted(Path(folder).glob("*.parquet"))])


def same_partition(a, b):
    """True when two labelings split the rows the same way (equal up to renaming clusters)."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = np.unique(np.stack([a, b]), axis=1)
    return len(pairs[0]) == len(np.unique(a)) == len(np.unique(b))


def checkpoint_iteration(out):
    """The iteration recorded in ``out/_staging/checkpoint-*/state.npz``, or None."""
    for path in Path(out, "_staging").glob("checkpoint-*/state.npz"):
        try:
            data = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
            return int(json.loads(bytes(data["meta"]).decode())["iteration"])
        except (OSError, ValueError, KeyError):  # being replaced right now
            return None
    return None


def dkmeans_cli(*args):
    """The command line of ``python -m dkmeans.cli ARGS`` (for Popen)."""
    return [sys.executable, "-m", "dkmeans.cli", *map(str, args)]


def stop_process(proc, *, timeout=15):
    """SIGTERM, then SIGKILL if it does not exit in ``timeout`` s; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode


def wait_for(predicate, *, timeout, interval=0.02, what="condition"):
    """Poll ``predicate()`` until it returns a truthy value; that value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pid_alive(pid):
    """True while process ``pid`` exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True
