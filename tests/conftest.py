"""Shared fixtures: a real multi-process Dask cluster on loopback."""

import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    """A LocalCluster of two single-threaded worker processes, shared by the session."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0", memory_limit="2GiB")
    yield cluster
    cluster.close()


@pytest.fixture
def client(dask_cluster):
    """A client connected to the shared cluster, made the default for the test."""
    from distributed import Client

    with Client(dask_cluster) as c:
        yield c
