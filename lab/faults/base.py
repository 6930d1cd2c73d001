"""A fault is a small object: apply() does one thing to one host and says what it did;
revert() undoes exactly that (and nothing else), and is safe to call twice.

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


class Fault(ABC):
    #: capabilities the host needs for this fault (the runner grants only these)
    caps: tuple = ()

    @abstractmethod
    def apply(self, host, agent) -> FaultRecord: ...

    def revert(self, host) -> None:
        """Undo what apply() did; a fault that cannot be undone (a kill) does nothing."""
