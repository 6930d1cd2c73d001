"""Owner identity and leases: a zombie, a reused pid, another pid namespace or
boot cannot pass for a live owner; a killed run's lease shows the create it
had in flight. No Docker, no root."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from lab.backends import lease
from lab.owner import Owner, process_stat


def test_this_process_is_alive():
    assert Owner.current().alive() is True


def test_an_unreaped_zombie_is_dead():
    child = subprocess.Popen(["sleep", "30"])
    owner = Owner.of(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    try:
        deadline = time.monotonic() + 5
        while process_stat(child.pid)[0] != "Z":  # dead, and nobody has reaped it
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(child.pid, 0)  # what the old check asked: it says "alive" for a zombie
        assert owner.alive() is False
    finally:
        child.wait()
    assert owner.alive() is False  # reaped: no such process


def test_a_live_pid_with_another_start_time_is_not_the_owner():
    reused = dataclasses.replace(Owner.current(), start_time=Owner.current().start_time + 1)
    assert reused.alive() is False


@pytest.mark.parametrize("change", [{"pid_ns": 1}, {"boot_id": "another-boot"}], ids=["pid-namespace", "boot"])
def test_an_owner_we_cannot_see_is_not_called_dead(change):
    elsewhere = dataclasses.replace(Owner.current(), **change)
    assert not elsewhere.visible and elsewhere.alive() is None


def test_text_round_trip():
    me = Owner.current()
    assert Owner.parse(str(me)) == me
    assert Owner.parse("somehost:1234") is None  # an older lab's label


WRITER = """
import os, signal, sys
from lab.backends import lease
held = lease.Lease("docker", "1129120000-abcdef")
with held.creating("network", "tfl-done"):
    pass
with held.creating("container", "tfl-late"):
    os.kill(os.getpid(), signal.SIGKILL)   # dies with the create in flight
"""


def test_a_killed_run_leaves_a_lease_naming_its_create_in_flight(tmp_path, monkeypatch):
    monkeypatch.setattr(lease, "LEASES", tmp_path)
    done = subprocess.run([sys.executable, "-c", WRITER], env={**os.environ, "LAB_LEASES": str(tmp_path)})
    assert done.returncode == -signal.SIGKILL
    records = lease.leases("docker")
    record = records["1129120000-abcdef"]
    assert record.dead
    assert [(c.kind, c.name) for c in record.in_flight] == [("container", "tfl-late")]
    record.release()
    assert lease.leases("docker") == {}


def test_a_live_run_holds_its_lease_until_released(tmp_path, monkeypatch):
    monkeypatch.setattr(lease, "LEASES", tmp_path)
    held = lease.Lease("netns", "1129120000-123456")
    record = lease.leases("netns")["1129120000-123456"]
    assert record.owner == Owner.current() and not record.dead and record.in_flight == ()
    held.release()
    assert lease.leases("netns") == {}
