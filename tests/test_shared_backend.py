"""One backend object runs two scenarios at once, from two threads, and each gets the
verdict it gets alone: a backend keeps no run state (a run's hosts, network and folders live
on the Deployment its up() returned), so nothing of one run can leak into the other.

On the fake backend the two runs are held at a barrier until both are in their steps; on
Docker and on network namespaces they are real runs of two catalogue scenarios.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from fakes import FakeBackend, scenario_text
from lab import runner, stability
from lab.pytest_plugin import require_engine
from lab.scenario.load import load, load_text, path_for

CATALOGUE = ("crash-reset", "kill-unread-data")
FAKE = """\
  - {{host: {server}, call: listen, port: 7000}}
  - {{host: {client}, call: connect, to: {server}, port: 7000}}
  - {{id: cut, host: {server}, fault: {fault}, peer: {client}}}
  - {{host: {client}, call: send, expect: {expect}}}
"""
FAKES = (scenario_text(FAKE.format(server="server", client="client", fault="drop", expect=1), name="drop"),
         scenario_text(FAKE.format(server="web", client="browser", fault="reject", expect=3), ("web", "browser"),
                       name="reject"))


def in_two_threads(backend, scenarios):
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda s: runner.run(s, backend), scenarios))


def agree(alone, together):
    for a, b in zip(alone, together):
        assert stability.outcomes_of(b) == stability.outcomes_of(a), b.scenario.name


def fake_agent(barrier=None):
    """The browser's send sends 3 bytes, the client's 1. With a barrier, each run waits at
    its connect until the other is there too (run one after the other, they would time out)."""
    def on_agent(call, cmd):
        if barrier and cmd["op"] == "connect":
            barrier.wait(timeout=5)
        if cmd["op"] == "send":
            return {"ret": 3 if call.host == "browser" else 1}
        return {}
    return on_agent


def test_two_runs_at_once_on_one_fake_backend():
    scenarios = [load_text(text, "fake.yaml") for text in FAKES]
    alone = [runner.run(s, FakeBackend(on_agent=fake_agent())) for s in scenarios]
    shared = FakeBackend(on_agent=fake_agent(threading.Barrier(2)))
    together = in_two_threads(shared, scenarios)
    agree(alone, together)
    assert [r.verdict.passed for r in alone + together] == [True] * 4
    for res in together:
        calls = shared.calls(res.run_id)
        assert calls[-1] == "down" and shared.deployments[res.run_id].torn_down
        assert sum(f"--comment tfl-{res.run_id}-cut" in line for line in calls) == 2  # its rule, and its revert
        assert {c.host for c in shared.log if c.run_id == res.run_id} == {None, *res.scenario.hosts}


@pytest.mark.docker
@pytest.mark.parametrize("backend_name", ["docker", "netns"])
def test_two_runs_at_once_on_one_real_backend(backend_name):
    backend = require_engine(backend_name)
    backend.ensure_images()
    scenarios = [load(path_for(name)) for name in CATALOGUE]
    alone = [runner.run(s, backend) for s in scenarios]
    together = in_two_threads(backend, scenarios)
    agree(alone, together)
    assert [r.verdict.passed for r in alone + together] == [True] * 4
