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

from lab.errors import FaultError, HostGone


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
    kind: str | None = None  # its name in a scenario (`fault: drop`); a class without one is a base
    args: tuple = ()         # of lab.scenario.kinds.Arg; with the class docstring, all a scenario knows of it
    caps: tuple = ()
    requires: tuple = ()     # an instance may set its own from its arguments (rate: netem only with delay/loss)
    ends_processes = False   # the host's programs are gone after apply (stop, restart)
    only_in: tuple = ()      # of (argument, values, family): argument values of one address family only

    @staticmethod
    def hosts_touched(step):
        """The hosts this fault changes (each gets the fault's caps)."""
        return [step.host]

    @abstractmethod
    def apply(self, ctx: FaultContext) -> FaultRecord: ...

    def revert(self, ctx: FaultContext) -> None:
        """Undo what apply() did; a fault that cannot be undone (a kill) does nothing.
        Raises FaultError naming everything it could not undo, after trying all of it."""


def command(host, argv):
    """Run a fault's command in a host; FaultError with what the host said if it fails."""
    done = host.exec(argv)
    if not done.succeeded:
        raise FaultError(f"`{' '.join(argv)}` on {host.name}: {done.stderr.strip() or f'exit status {done.rc}'}")
    return done


def undo(host, argv, already_gone):
    """One revert command; its failure is fine only when the host says exactly that
    the thing is already gone (one of the texts in already_gone), or the host itself is."""
    try:
        command(host, argv)
    except HostGone:
        pass  # a stopped host's rules and qdiscs went with its network namespace
    except FaultError as exc:
        if not any(text in str(exc) for text in already_gone):
            raise


def undo_all(steps):
    """Run every undo step (callables) even when some fail; one FaultError naming each failure."""
    failures = []
    for step in steps:
        try:
            step()
        except FaultError as exc:
            failures.append(str(exc))
    if failures:
        raise FaultError("; ".join(failures))
