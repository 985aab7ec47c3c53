"""Fixtures of the job runner tests: Dask deployments made of real processes."""

import pytest

from dask_deployment import Deployment


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
