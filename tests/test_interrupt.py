"""Interrupted runs leave nothing behind: SIGINT and SIGTERM through the run's own
teardown, SIGKILL through `lab clean`; at seeded random points across every phase
(image check, network, containers, captures, steps, teardown) of several scenarios."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.backends.base import LABEL
from test_runs import host_network_state

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ["crash-reset", "kill-unread-data", "connect-refused", "reject-by-router"]
POINTS = 10  # per signal


def leftovers(backend, run_id):
    api = backend.client.api
    return (api.containers(all=True, filters={"label": f"{LABEL}={run_id}"}),
            api.networks(filters={"label": f"{LABEL}={run_id}"}))


def interrupted_run(out, name, sig, delay):
    """Start `lab run`, send sig after delay; return its exit status and run id (None if it had none yet)."""
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", name, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    records = [json.loads(p.read_text()) for p in out.glob(f"*-{name}*/result.json")]
    assert all("Traceback" not in line for line in err.splitlines()), err
    return proc.returncode, records


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_interrupted_runs_leave_nothing(backend, tmp_path, sig):
    firewall_before = host_network_state(backend)
    rng = random.Random(f"interrupt-{sig.name}")  # seeded: the same points every time
    for point in range(POINTS):
        name, delay = SCENARIOS[point % len(SCENARIOS)], rng.uniform(0.2, 2.4)
        out = tmp_path / f"{point}"
        rc, records = interrupted_run(out, name, sig, delay)
        if sig == signal.SIGKILL:
            subprocess.run([sys.executable, "-m", "lab", "clean"], cwd=ROOT, check=True, capture_output=True)
        for record in records:  # a run directory is a whole record, or says it is not one
            assert record["complete"] is ("verdict" in record), (delay, record)
            assert record["complete"] or rc != 0, (delay, record)
            assert leftovers(backend, record["run_id"]) == ([], []), f"{name} {sig.name} at {delay:.2f} s"
        assert rc in (0, 130, -sig, 128 + sig), (name, delay, rc)
    assert host_network_state(backend) == firewall_before
