"""Fixtures of the generator tests: a moto S3 server on 127.0.0.1 (one per module)."""

from __future__ import annotations

import socket

import pytest
from generate_helpers import BUCKET, S3_KEY, S3_SECRET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_options():
    """Storage options reaching a fresh moto S3 endpoint that holds one empty bucket."""
    pytest.importorskip("moto")
    s3fs = pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"client_kwargs": {"endpoint_url": f"http://{host}:{port}"},
               "key": S3_KEY, "secret": S3_SECRET}
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem(**options).mkdir(BUCKET)
    try:
        yield options
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
