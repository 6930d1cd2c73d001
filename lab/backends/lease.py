"""A run's lease: a small file on this machine naming the run's owner and
every create the run has sent to the engine and not yet seen answered.

`lab clean` reads the leases to know, without guessing, what a dead owner
may still have coming. An engine finishes a create call after the process
that sent it died (SIGKILL to the process group of `make scenario`), so
an object can appear after a first look found none. A lease whose owner
is dead and whose last create has no end line is exactly that case: the
cleaner waits for that create to land (the engine's event stream says
when) before it removes the run, and only then releases the lease. A dead
owner with nothing in flight costs no wait at all.

Why not Testcontainers' reaper (Ryuk): it is a container holding a socket
per session and, once the last one drops, waits a fixed reconnection
timeout (10 s) and then prunes by label, pruning again while it sees
objects newer than its start ("changes detected"). That needs a reaper
image with an engine client inside (the lab's host image has none, and
there is no registry to pull Ryuk from), costs a container per session,
and still rests on a fixed wait. The lease turns the wait into an
observation, and the fixed timeout remains only for a create that never
reached the engine (`LATE_CREATE_TIMEOUT`).

One file per run: `<backend>_<run id>_<owner>.jsonl` under LAB_LEASES
(default `<tmp>/tcp-fault-lab-leases`), one line per create begun and
ended. Lines are appended and flushed; a killed writer
loses nothing the kernel already has.
"""

import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lab.owner import Owner

LEASES = Path(os.environ.get("LAB_LEASES") or Path(tempfile.gettempdir()) / "tcp-fault-lab-leases")
LATE_CREATE_TIMEOUT = 10.0  # s: a create a dead owner began but the engine never shows


@dataclass(frozen=True)
class Create:
    kind: str      # "container" or "network": the engine's event type
    name: str
    began: float   # time.time() when it was sent


@dataclass(frozen=True)
class LeaseRecord:
    path: Path
    run_id: str
    owner: Owner | None
    in_flight: tuple   # of Create: begun, never seen ended

    @property
    def dead(self):
        """The owner is known to be gone (not merely invisible from here)."""
        return self.owner is None or self.owner.alive() is False

    def release(self):
        self.path.unlink(missing_ok=True)


class Lease:
    """Held by a live run: written before its first create, released after its teardown."""

    def __init__(self, backend, run_id):
        LEASES.mkdir(parents=True, exist_ok=True)
        # the owner is in the name, so a lease exists whole or not at all
        self.path = LEASES / f"{backend}_{run_id}_{Owner.current()}.jsonl"
        self.lock = threading.Lock()  # hosts are created from several threads
        self.file = open(self.path, "a", buffering=1)

    def _write(self, entry):
        with self.lock:
            self.file.write(json.dumps(entry) + "\n")

    @contextlib.contextmanager
    def creating(self, kind, name):
        """Around one create call: a dead owner's unfinished one is what the cleaner waits for."""
        self._write({"begin": name, "kind": kind, "t": time.time()})
        try:
            yield
        finally:
            self._write({"end": name})

    def release(self):
        self.file.close()
        self.path.unlink(missing_ok=True)


def read(path):
    """A lease file as a record (a line cut by a killed writer is left out)."""
    _, run_id, owner = path.stem.split("_")
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
    begun = {e["begin"]: Create(e["kind"], e["begin"], e["t"]) for e in lines if "begin" in e}
    for entry in lines:
        begun.pop(entry.get("end"), None)
    return LeaseRecord(path, run_id, Owner.parse(owner), tuple(begun.values()))


def leases(backend):
    """Every lease this machine holds for a backend, by run id."""
    found = {}
    for path in LEASES.glob(f"{backend}_*.jsonl"):
        with contextlib.suppress(FileNotFoundError, ValueError):  # released or being written meanwhile
            record = read(path)
            found[record.run_id] = record
    return found
