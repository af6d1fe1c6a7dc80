"""Shared fixtures. Viewer tests run under Xvfb (pytest-xvfb) with Mesa's software OpenGL."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("NAPARI_ASYNC", "0")


@pytest.fixture
def rng():
    """A seeded random generator so that every test run sees the same data."""
    import numpy as np

    return np.random.default_rng(1234)


# --- local stand-ins for remote stores (tests/remote_servers.py) -------------------------------


@pytest.fixture
def http_server_factory():
    """A function ``(root, **options) -> StaticHTTPServer``, started; all stopped at teardown.

    The options are `StaticHTTPServer`'s (``latency``, ``fail_after``, ``deny``, ...).
    """
    from remote_servers import StaticHTTPServer

    servers = []

    def start(root, **options):
        server = StaticHTTPServer(root, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 on 127.0.0.1 for the whole session; give each test its own bucket."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    from remote_servers import MotoS3Server

    with MotoS3Server() as server:
        yield server


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The S3 server, with AWS_ENDPOINT_URL and fake credentials set for this test only."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    # Credentials or a profile from the machine must not leak in.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return s3_server


# --- a dask cluster --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster (2 single-thread workers in this process) and its client, per module."""
    distributed = pytest.importorskip("distributed", reason="the cluster extra")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as active,
    ):
        yield active
