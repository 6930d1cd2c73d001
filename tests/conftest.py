"""Fixtures for the Docker integration tests: the engine, and a live topology."""

import pytest

from lab.backends.base import HostSpec, Topology
from lab.capture import Captures
from lab.pytest_plugin import require_engine
from lab.runner import new_run_id


@pytest.fixture(scope="session")
def backend():
    backend = require_engine()
    backend.ensure_images()
    return backend


@pytest.fixture
def live(backend):
    """A server and a client up, both captured; torn down after the test."""
    run_id = new_run_id()
    deployment = backend.up(Topology(run_id, (HostSpec("server"), HostSpec("client", caps=("NET_ADMIN",)))))
    captures = Captures(deployment.hosts)
    try:
        captures.start()
        yield deployment, deployment.hosts, captures
    finally:
        backend.down(deployment)


@pytest.fixture(scope="session")
def netns_backend():
    return require_engine("netns")
