"""What the runner needs from a place to run hosts, and nothing more.

A Backend brings up a Topology (hosts on one private network) for one run as
a Deployment, and tears that down; the backend keeps no state of any run, so
one backend object serves concurrent runs. A Host can run a command, start a long-lived process, start a
capture beside itself, signal a process, and be stopped, started, paused and
unplugged. The runner, the faults and the capture only ever see these names,
so hosts as containers (docker.py) or as network namespaces cost one file each.

The contract is wider than exec/kill/stop/start: the agent needs a
line stream (spawn, where a one-shot exec per call would cost tens of
milliseconds each), the capture needs a sidecar that outlives the host's
own programs (start_capture; the Sidecar holds the pcap and says whether a
fence frame is in it yet), and the host-level faults of the catalogue need
pause and disconnect. Each is one call on either backend.

    >>> ExecResult(rc=0, stdout="ok\\n").succeeded
    True
"""

import queue
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from lab.errors import StepTimeout

LABEL = "tcp-fault-lab.run"  # every object a run creates carries it, valued by run id


@dataclass(frozen=True)
class ExecResult:
    rc: int
    stdout: str
    stderr: str = ""

    @property
    def succeeded(self):
        return self.rc == 0


@dataclass(frozen=True)
class HostSpec:
    name: str
    caps: tuple = ()         # capabilities beyond none, e.g. ("NET_ADMIN",)
    captured: bool = True    # run a tcpdump beside it
    router: bool = False     # forwards between the others: ip_forward on, redirects off
    routed: bool = False     # takes no redirects (its routes go through a router)
    runtime: str = "python"  # the runtime its agent is written in (lab/runtimes.py)


@dataclass(frozen=True)
class Topology:
    run_id: str
    hosts: tuple              # of HostSpec
    labels: dict = field(default_factory=dict)
    family: str = "4"         # "6": the hosts get IPv6 addresses too, and the run uses those


@dataclass
class Deployment:
    """One run's live hosts, as a backend's up() made them; its down() takes them back.

    Everything that belongs to one run lives here (a backend's subclass adds
    its network, lease, folders), never on the backend, so one backend object
    can hold several runs at once."""
    run_id: str
    hosts: dict = field(default_factory=dict)   # name -> Host


class Process(ABC):
    """A long-lived process in a host, line-oriented on stdin/stdout (asyncio's names)."""

    @abstractmethod
    def write_line(self, line: str) -> None: ...

    @abstractmethod
    def read_line(self, timeout: float) -> str | None:
        """The next stdout line; None at end of stream; raises StepTimeout."""

    @property
    @abstractmethod
    def returncode(self) -> int | None:
        """Exit status once exited (128+N when killed by signal N), else None."""

    @abstractmethod
    def wait(self, timeout: float) -> int: ...


class LineProcess(Process):
    """A Process whose stdout lines a reader thread puts on `lines` (None at the end)."""

    def __init__(self):
        self.lines = queue.Queue()
        self.stderr = []

    def read_line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise StepTimeout(f"no answer within {timeout} s") from None

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while (rc := self.returncode) is None:
            if time.monotonic() > deadline:
                raise StepTimeout(f"process still running after {timeout} s")
            time.sleep(0.01)
        return rc


def names_file(addresses):
    """/etc/hosts lines naming every host by each of its addresses ({host: {family: address}}):
    a program in the lab resolves a host's name as it would a server's.

    >>> print(names_file({"server": {"4": "10.0.0.10", "6": "fd00::a"}}), end="")
    10.0.0.10 server
    fd00::a server
    """
    return "".join(f"{address} {name}\n" for name, by_family in addresses.items() for address in by_family.values())


class Host(ABC):
    name: str
    addresses: dict       # {"4": its IPv4 address, "6": its IPv6 address in an IPv6 run}: fixed for the
                          # run, they survive stop/start and disconnect/reconnect
    family: str           # the run's address family: which of them the run's traffic uses
    router: bool          # packets between others pass through it (faults use FORWARD)
    agent_argv: list      # how to start its runtime's agent inside this host

    @property
    def address(self):
        return self.addresses[self.family]

    @abstractmethod
    def exec(self, argv: list[str]) -> ExecResult: ...

    @abstractmethod
    def spawn(self, argv: list[str]) -> Process:
        """Start argv inside the host with stdin/stdout connected to us."""

    @abstractmethod
    def start_capture(self, max_packets: int) -> "Sidecar":
        """Start tcpdump beside the host, sharing its network namespace only; it stops after max_packets."""

    @abstractmethod
    def kill(self, pid: int, signal: str) -> ExecResult:
        """Send signal (a name such as "SIGKILL") to a process inside the host."""

    @abstractmethod
    def stop(self) -> None:
        """The host vanishes: its processes and its kernel's sockets are gone."""

    @abstractmethod
    def start(self) -> None:
        """Bring a stopped host back, at the same address, with nothing running."""

    @abstractmethod
    def pause(self) -> None:
        """Freeze the host's processes; its kernel still answers."""

    @abstractmethod
    def unpause(self) -> None: ...

    @abstractmethod
    def disconnect(self) -> None:
        """Unplug the host from the lab network."""

    @abstractmethod
    def reconnect(self) -> None:
        """Plug it back, at the same address."""


class Sidecar(ABC):
    @abstractmethod
    def exec(self, argv: list[str]) -> ExecResult:
        """Run a command beside the capture (same network namespace, same capabilities)."""

    @property
    @abstractmethod
    def running(self) -> bool:
        """Is the capture still running (tcpdump ends when its interface goes away)?"""

    @abstractmethod
    def wait_for_output(self, text: str, timeout: float) -> None:
        """Block until text appears in what tcpdump writes to its stderr."""

    @abstractmethod
    def fence(self, payload: bytes) -> bool:
        """Send the host's eth0 a frame of `payload` (ethertype, data) to its own MAC address, from
        inside its network namespace (lab/capture.py); False when its eth0 is gone, SetupError when
        the sender beside the capture does not say within its time whether it could send."""

    @abstractmethod
    def holds(self, marker: bytes) -> bool:
        """Has tcpdump written these bytes yet (the capture's fence)?"""

    @abstractmethod
    def stop(self, timeout: float) -> None:
        """Ask it to finish (SIGINT) and wait for it to exit."""

    @abstractmethod
    def pcap(self) -> bytes:
        """Everything it wrote: the whole capture, once stopped."""


class Backend(ABC):
    name: str

    def ensure_images(self, wanted=("python",)) -> dict:
        """Build what hosts of these runtimes are made from, if missing; {name: tag}."""
        return {}

    @abstractmethod
    def up(self, topology: Topology) -> Deployment:
        """Create the network and hosts; on failure remove what was made, then raise."""

    @abstractmethod
    def down(self, deployment: Deployment) -> None:
        """Remove everything of the run; tolerate what is already gone."""

    @abstractmethod
    def clean(self, everything: bool = False) -> list[str]:
        """Remove what runs left (sparing live processes' runs unless everything); return what was removed."""

    @abstractmethod
    def describe(self) -> dict:
        """Facts for result.json: kernel, engine version, image ids."""
