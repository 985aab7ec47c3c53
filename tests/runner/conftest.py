"""Fixtures of the job runner tests: Dask deployments made of real processes, and an S3
endpoint (moto in server mode on loopback, one per test module)."""

import pytest

from dask_deployment import Deployment
from e2e_helpers import free_port


@pytest.fixture
def dask_deployment(tmp_path):
    """Start a :class:`~dask_deployment.Deployment`: ``dask_deployment(workers=2, tls=None)``.

    Each call starts a fresh one (a new scheduler address); every process of every one is
    stopped afterwards, whatever the test did.
    """
    started = []

    def start(**kwargs):
        deployment = Deployment(tmp_path / f"deployment-{len(started)}", **kwargs)
        started.append(deployment)
        return deployment.start()

    yield start
    for deployment in reversed(started):
        deployment.stop()


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on a free loopback port, for this module."""
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
