"""The netns backend leaves nothing behind: its runs add nothing to the machine's own
namespace, Ctrl-C tears a run down, and `lab clean` removes what a SIGKILL left (and
its processes) while sparing runs whose `lab` is alive."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import machine_state
from lab.backends import lease
from lab.backends.netns import NAME, NETNS_DIR, PREFIX

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parent.parent


def machine_network():
    """The machine's own network in both families (machine_state.py: what a run must not touch),
    less Docker's own bridges and veths (other containers may come and go meanwhile)."""
    return [line for line in machine_state.lines() if not any(w in line for w in ("br-", "veth"))]


def namespaces(run_id=None):
    """The lab's namespaces; with run_id, only that run's."""
    found = sorted(p.name for p in NETNS_DIR.glob(f"{PREFIX}*")) if NETNS_DIR.is_dir() else []
    return [n for n in found if run_id is None or NAME.match(n)["run"] == run_id]


def run_of(pid):
    """The run id whose lease names this owner pid, once it has one."""
    return next((run for run, record in lease.leases("netns").items() if record.owner.pid == pid), None)


def lab_processes(pattern):
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()


def start_run(tmp_path, name="partition-timeout", family="4"):
    """A netns run of a scenario that lasts a few seconds, once its hosts are up."""
    proc = subprocess.Popen([sys.executable, "-m", "lab", "--backend", "netns", "run", name, "--out", str(tmp_path),
                             "--family", family],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (run_id := run_of(proc.pid)) or not namespaces(run_id):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    proc.run_id = run_id
    time.sleep(1.0)  # into the steps: agents and tcpdumps running
    return proc


@pytest.mark.parametrize("family", ["4", "6"])
def test_sigint_tears_down_and_sigkill_leftovers_are_cleaned(netns_backend, tmp_path, family):
    before = machine_network()
    run = start_run(tmp_path, family=family)
    run.send_signal(signal.SIGINT)
    assert run.wait(30) == 130
    assert not namespaces(run.run_id) and run_of(run.pid) is None

    killed = start_run(tmp_path, family=family)
    alive = start_run(tmp_path, family=family)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    mine = namespaces(killed.run_id)
    assert mine, "a SIGKILLed run leaves its namespaces"
    theirs = namespaces(alive.run_id)
    done = subprocess.run([sys.executable, "-m", "lab", "clean"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and all(f"removed network namespace {n}" in done.stdout for n in mine), done.stdout
    assert not namespaces(killed.run_id) and run_of(killed.pid) is None
    assert not lab_processes(f"tfl-{killed.run_id}-"), "its tcpdumps were killed with it"
    assert theirs and set(theirs) <= set(namespaces()), "a live run is spared"
    assert alive.wait(60) == 0
    assert not namespaces(alive.run_id)
    assert machine_network() == before
