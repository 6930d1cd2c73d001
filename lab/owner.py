"""Who owns a run's objects, in a form a zombie, a reused pid or a process
of another pid namespace cannot pass for.

A pid alone lies three ways: `kill(pid, 0)` succeeds for a zombie nobody
has reaped yet (a `lab` killed with its process group, whose parent `make`
died with it); a pid is reused by an unrelated process; and two CI jobs in
different containers sharing one engine can have the same pid. So an owner
is the boot id, the pid namespace, the pid and the process's start time
(`/proc/PID/stat` field 22, clock ticks after boot): a reused pid has
another start time, a zombie's state is Z, another boot or pid namespace
is one we cannot see into.

    >>> Owner.parse("b0:4026531836:42:1234")
    Owner(boot_id='b0', pid_ns=4026531836, pid=42, start_time=1234)
    >>> Owner.parse("host:42") is None
    True
"""

import os
from dataclasses import dataclass
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def process_stat(pid):
    """(state, start time) of a process, or None when there is no such process here."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": comm may hold spaces and ")"
    return fields[0], int(fields[19])


def this_pid_namespace():
    return os.stat("/proc/self/ns/pid").st_ino


@dataclass(frozen=True)
class Owner:
    boot_id: str
    pid_ns: int
    pid: int
    start_time: int

    def __str__(self):
        return f"{self.boot_id}:{self.pid_ns}:{self.pid}:{self.start_time}"

    @classmethod
    def parse(cls, text):
        """The owner a label or lease names; None for text of another form (an older lab's)."""
        parts = text.split(":")
        if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
            return None
        return cls(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))

    @classmethod
    def of(cls, pid):
        """The owner identity of a live process of this machine and pid namespace."""
        stat = process_stat(pid)
        if stat is None:
            raise ProcessLookupError(pid)
        return cls(BOOT_ID.read_text().strip(), this_pid_namespace(), pid, stat[1])

    @classmethod
    def current(cls):
        return cls.of(os.getpid())

    @property
    def visible(self):
        """Can this process tell whether the owner lives (same boot, same pid namespace)?"""
        return self.boot_id == BOOT_ID.read_text().strip() and self.pid_ns == this_pid_namespace()

    def alive(self):
        """True or False where visible; None where not (another machine, boot or container)."""
        if not self.visible:
            return None
        stat = process_stat(self.pid)
        return stat is not None and stat[0] not in "ZX" and stat[1] == self.start_time
