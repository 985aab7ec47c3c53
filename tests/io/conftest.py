"""Fixtures for the storage tests: a real S3 endpoint (moto in server mode on 127.0.0.1, one per
test module, reset before each test, as s3fs's own test suite does); worker processes of a
LocalCluster reach it too. Helpers to build Parquet folders live in ``io_helpers``.
"""

from __future__ import annotations

import os
import socket

import pytest
from io_helpers import BUCKET, ENV_KEY, ENV_SECRET, S3_KEY, S3_SECRET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on 127.0.0.1 for the whole module, with dummy credentials in the env."""
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = ENV_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = ENV_SECRET
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3_options(s3_endpoint):
    """Storage options for a freshly reset endpoint holding one empty bucket."""
    import requests
    import s3fs

    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10)
    s3fs.S3FileSystem.clear_instance_cache()
    options = {"client_kwargs": {"endpoint_url": s3_endpoint}, "key": S3_KEY, "secret": S3_SECRET}
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir(BUCKET)
    yield options
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3fs_client(s3_options):
    import s3fs

    return s3fs.S3FileSystem(**s3_options)

