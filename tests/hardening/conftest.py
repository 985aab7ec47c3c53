"""Fixtures of the hardening tests: a threaded in-process Dask cluster (quick to start, and
what most jobs of these tests run on). Helpers live in ``hardening_helpers``."""

import sys
from pathlib import Path

import pytest

# the job runner tests' helpers (write_blobs, run_cli, ...) are shared with these tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))


@pytest.fixture(scope="module")
def threads_client():
    """A client of a LocalCluster of one worker with two threads, in this process.

    Module-scoped: while it lives it is the default client, which later tests elsewhere
    (that expect the local scheduler) must not inherit.
    """
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client
