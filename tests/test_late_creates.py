"""What an engine finishes after its caller died is cleaned too: `lab clean` waits for
a dead owner's create still in flight (named in its lease) to land, on the engine's
events, and removes it; a live owner's create is left alone."""

import json
import subprocess
import threading
import time

import pytest

from lab.backends import lease
from lab.backends.base import LABEL
from lab.backends.docker import OWNER
from lab.owner import Owner
from lab.runner import new_run_id

pytestmark = pytest.mark.docker
LANDS_AFTER = 1.5  # s: the engine "finishes" the dead owner's create this long after clean began


def dead_owner():
    child = subprocess.Popen(["sleep", "30"])
    owner = Owner.of(child.pid)
    child.kill()
    child.wait()
    return owner


def lease_with_create_in_flight(owner, run_id, name):
    lease.LEASES.mkdir(parents=True, exist_ok=True)
    path = lease.LEASES / f"docker_{run_id}_{owner}.jsonl"
    path.write_text(json.dumps({"begin": name, "kind": "container", "t": time.time()}) + "\n")
    return path


def test_clean_waits_for_a_dead_owners_late_create_and_removes_it(backend):
    owner, run_id = dead_owner(), new_run_id()
    name = f"tfl-{run_id}-server"
    path = lease_with_create_in_flight(owner, run_id, name)

    def engine_finishes_the_create():
        time.sleep(LANDS_AFTER)
        backend.client.containers.create(backend.tags["host:python"], name=name, command=["sleep", "infinity"],
                                         labels={LABEL: run_id, OWNER: str(owner)})

    late = threading.Thread(target=engine_finishes_the_create)
    started = time.monotonic()
    late.start()
    try:
        removed = backend.clean()
        took = time.monotonic() - started
        late.join()
        assert f"container {name}" in removed, removed
        assert backend.client.containers.list(all=True, filters={"name": name}) == []
        assert LANDS_AFTER <= took < lease.LATE_CREATE_TIMEOUT, f"clean took {took:.2f} s"
        assert not path.exists(), "the dead owner's lease is released"
    finally:
        late.join()
        for c in backend.client.containers.list(all=True, filters={"name": name}):
            c.remove(force=True)
        path.unlink(missing_ok=True)


def test_a_live_owners_create_in_flight_is_not_waited_for_nor_removed(backend):
    run_id = new_run_id()
    name = f"tfl-{run_id}-server"
    path = lease_with_create_in_flight(Owner.current(), run_id, name)
    container = backend.client.containers.create(backend.tags["host:python"], name=name, command=["sleep", "infinity"],
                                                 labels={LABEL: run_id, OWNER: str(Owner.current())})
    try:
        started = time.monotonic()
        removed = backend.clean()
        assert time.monotonic() - started < lease.LATE_CREATE_TIMEOUT / 2
        assert f"container {name}" not in removed and path.exists()
        container.reload()
    finally:
        container.remove(force=True)
        path.unlink(missing_ok=True)
