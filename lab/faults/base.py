"""A fault is a small object: apply() does one thing to the lab and says what it did;
revert() undoes exactly that (and nothing else), and is safe to call twice.

Faults act inside the lab's own hosts (their own network namespaces), never
on the machine running the lab. A fault's `caps` are the capabilities the
host needs for it (the runner grants only those), its `requires` the kernel
features it needs (probed before the run; missing ones skip the scenario).

    >>> FaultRecord(kind="kill", host="client", detail="SIGKILL to pid 7").text
    'kill client: SIGKILL to pid 7'
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultRecord:
    kind: str
    host: str
    detail: str
    ok: bool = True

    @property
    def text(self):
        return f"{self.kind} {self.host}: {self.detail}"


@dataclass
class FaultContext:
    """What a fault may touch: its host, that host's agent, every host by name, the run's tag."""
    host: object
    agent: object | None
    hosts: dict
    tag: str          # unique to the run and step; marks rules so revert finds exactly them


class Fault(ABC):
    caps: tuple = ()
    requires: tuple = ()
    ends_processes = False   # the host's programs are gone after apply (stop, restart)

    @staticmethod
    def hosts_touched(step):
        """The hosts this fault changes (each gets the fault's caps)."""
        return [step.host]

    @abstractmethod
    def apply(self, ctx: FaultContext) -> FaultRecord: ...

    def revert(self, ctx: FaultContext) -> None:
        """Undo what apply() did; a fault that cannot be undone (a kill) does nothing."""
