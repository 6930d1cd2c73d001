"""A run's record, typed: what the runner saw and what the verdict made of it.

The verdict and the evidence read a run through `RunRecord.of` while judging
it (no verdict yet); the timeline, the reports, stability and compare read one
back from result.json through `RunRecord.read` / `from_dict`, which takes old
records too (a key they lack takes its default). result.json itself is written
by reports/result.py and keeps its format. Said once here:

- which connection a socket is (`RunRecord.connection`): the one that its
  host's last connect() or accept() under that name reported, as of a step
  (a failed connect reports its port and 0.0.0.0, which is the host's own
  address). The agent's events carry op, sock and the endpoints: the agent
  line protocol, not the scenario, says what each call did;
- which host an address is (`host_of`);
- the key of a step's and an evidence link's row (`StepVerdict.key`,
  `Evidence.key`), shared by stability, compare and the JUnit report.

    >>> run = RunRecord.of([Observation(2, "ok", 1.0, 1.1, {"op": "connect", "sock": "a",
    ...                     "local": ["0.0.0.0", 5000], "peer": ["10.0.0.3", 7000]})],
    ...                    {}, {"client": "10.0.0.2", "server": "10.0.0.3"}, {2: "client"})
    >>> run.connection("a", "client", at=9).local, run.connection("a", "server"), run.host_of("10.0.0.3")
    (('10.0.0.2', 5000), None, 'server')
"""

import ipaddress
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from lab.cell import DEFAULT_FAMILY, Cell
from lab.packets import Segment


def canonical(address):
    """An address as the lab writes it: IPv6 compressed (Java gives it in full), an IPv4-mapped
    IPv6 address as its IPv4 address; anything else as given.

    >>> canonical("fd3c:7a1e:5b09:0:0:0:0:a"), canonical("::ffff:10.0.0.3"), canonical("10.0.0.3")
    ('fd3c:7a1e:5b09::a', '10.0.0.3', '10.0.0.3')
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def alias(host, family):
    """The key of a host's address in the other family, where a run uses both (an IPv6 run's
    hosts have IPv4 addresses too): `server/ipv4`."""
    return f"{host}/ipv{family}"


def host_of(address, addresses):
    """The lab host with this address (by any of its keys), or None. addresses: {host: address}.

    >>> host_of("10.0.0.3", {"server": "fd00::3", "server/ipv4": "10.0.0.3"})
    'server'
    """
    address = canonical(address)
    return next((name.split("/")[0] for name, a in addresses.items() if a == address), None)


@dataclass(frozen=True)
class Observation:
    """What one step did: the agent's event (or a fault's record), reduced to an outcome."""
    number: int
    outcome: object            # the token compared with the expectation
    start: float | None        # CLOCK_REALTIME, comparable with packet times
    end: float | None
    event: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Connection:
    """The endpoints a connect() or accept() reported for a socket: (address, port) each."""
    step: int
    host: str
    sock: str
    local: tuple
    peer: tuple

    @property
    def ends(self):
        return frozenset((self.local, self.peer))


def syn_ports(packets, address, peer, start, end):
    """The source ports of the SYNs address sent to peer between start and end.

    For a connect() whose runtime does not say which local port it had when it failed
    (java.net.Socket closes a socket whose connect failed, and Go's dialer too): the
    wire does. None left the host (an unanswered ARP, a drop on its own OUTPUT chain):
    the connection is known by its addresses only, its port None."""
    return {s.sport for segments in packets.values() for s in segments
            if s.tcp and s.src == address and (s.dst, s.dport) == peer and "SYN" in s.flags
            and "ACK" not in s.flags and start <= s.ts <= end}


def own_address(addresses, host, peer):
    """The host's address in its peer's family: in an IPv6 run an IPv4 connection's is its alias's.

    >>> own_address({"c": "fd00::b", "c/ipv4": "10.0.0.11"}, "c", "::ffff:10.0.0.10")
    '10.0.0.11'
    """
    family = "6" if ":" in canonical(peer) else "4"
    return addresses.get(alias(host, family), addresses.get(host))


def connections(observations, step_hosts, addresses, packets=None):
    """Every connect() and accept() that reported its endpoints (a connect's local port
    found on the wire when its runtime did not report it), in step order."""
    found = []
    for o in observations:
        event = o.event
        host = step_hosts.get(o.number)
        if host and event.get("op") == "connect" and event.get("peer") and not event.get("local") and packets \
                and o.start is not None and host in addresses:
            paddr, pport = event["peer"]
            own = own_address(addresses, host, paddr)
            ports = syn_ports(packets, own, (canonical(paddr), pport), o.start, o.end)
            if len(ports) <= 1:
                event = {**event, "local": [own, ports.pop() if ports else None]}
        if host and event.get("op") in ("connect", "accept") and event.get("local") and event.get("peer"):
            (laddr, lport), (paddr, pport) = event["local"], event["peer"]
            laddr, peer = canonical(laddr), (canonical(paddr), pport)
            local = (own_address(addresses, host, paddr) or laddr if laddr in ("0.0.0.0", "::") else laddr, lport)
            found.append(Connection(o.number, host, event.get("sock") or "conn", local, peer))
    return tuple(found)


class WithPackets:
    """A rule's or an evidence link's fields for result.json: its packet summaries as a list."""

    def as_dict(self):
        return {**self.__dict__, "packets": list(self.packets)}


@dataclass(frozen=True)
class StepVerdict:
    number: int
    host: str
    action: str
    expected: tuple
    observed: object
    why: str
    passed: bool
    seconds: tuple | None = None   # the window the call's time had to lie in, if the step gives one
    took: float | None = None      # the call's end - start

    @property
    def key(self):
        """The step's row in stability, compare and JUnit."""
        return f"step {self.number} {self.host} {self.action}"

    def as_dict(self):
        return self.__dict__.copy()


@dataclass(frozen=True)
class RuleVerdict(WithPackets):
    text: str
    wanted: str
    seen_at: str | None
    count: int
    packets: tuple             # summaries of the matching segments
    why: str
    passed: bool


@dataclass(frozen=True)
class Evidence(WithPackets):
    step: int
    outcome: object
    explained: bool
    because: str            # what was looked for
    packets: tuple = ()     # summaries of the packets that explain it
    seen_at: str | None = None

    @property
    def key(self):
        return f"evidence for step {self.step}"


@dataclass(frozen=True)
class Verdict:
    steps: tuple
    rules: tuple
    evidence: tuple = ()       # of Evidence: the packets behind each failure and EOF
    unhealed: tuple = ()       # faults the run could not undo, one line each: they fail the run

    @property
    def unexplained(self):
        return [e for e in self.evidence if not e.explained]

    @property
    def passed(self):
        return (all(v.passed for v in self.steps) and all(r.passed for r in self.rules)
                and not self.unexplained and not self.unhealed)


@dataclass(frozen=True)
class RunRecord:
    observations: tuple                    # of Observation, in step order
    packets: dict                          # {captured host: (Segment, ...)}
    addresses: dict                        # {host: address}
    connections: tuple = ()                # of Connection
    verdict: Verdict | None = None         # None while being judged, or for an incomplete run
    complete: bool = True
    status: str = "incomplete"             # passed, failed, skipped or incomplete
    skipped: str | None = None             # why the scenario could not run
    name: str = ""
    summary: str = ""
    story: str = ""
    hosts: tuple = ()                      # the scenario's hosts, in its order
    run_id: str = ""
    environment: dict = field(default_factory=dict)   # kernel, backend, engine, machine, ...
    cell: Cell | None = None               # scenario, runtime, family, kernel (lab/cell.py)
    runtimes: dict = field(default_factory=dict)      # host -> {runtime, version, sigpipe}
    timings: dict = field(default_factory=dict)       # phase -> seconds
    pcaps: tuple = ()                      # file names in the run directory
    directory: Path | None = None
    counters: dict = field(default_factory=dict)      # {"before"|"after": {host: {counter: value}}} (counters.py)

    @classmethod
    def of(cls, observations, packets, addresses, step_hosts, counters=None):
        """A run as the verdict judges it. step_hosts: {step number: host}."""
        return cls(tuple(observations), packets, addresses, connections(observations, step_hosts, addresses, packets),
                   counters=counters or {})

    @classmethod
    def read(cls, path):
        """A result.json file (OSError, ValueError when it is not one)."""
        path = Path(path)
        return cls.from_dict(json.loads(path.read_text()), directory=path.parent)

    @classmethod
    def from_dict(cls, data, directory=None):
        """A record as reports/result.py writes it, of any age: what it lacks takes its default."""
        raw = data.get("verdict")
        verdict = None if raw is None else verdict_of(raw)
        raw, complete, scenario = raw or {}, bool(data.get("complete")), data.get("scenario", {})
        observations = tuple(Observation(o["step"], o["outcome"], o["start"], o["end"], o.get("event", {}))
                             for o in data.get("observations", ()))
        addresses = data.get("addresses", {})
        step_hosts = {s.number: s.host for s in verdict.steps} if verdict else {}
        packets = {h: tuple(map(segment, ps)) for h, ps in data.get("packets", {}).items()}
        return cls(
            observations=observations, addresses=addresses, packets=packets,
            connections=connections(observations, step_hosts, addresses, packets), verdict=verdict, complete=complete,
            status=(raw.get("status") or ("passed" if raw.get("passed") else "failed")) if complete else "incomplete",
            skipped=raw.get("skipped"), name=scenario.get("name", ""), summary=scenario.get("summary", ""),
            story=scenario.get("story", ""), hosts=tuple(scenario.get("hosts") or addresses),
            run_id=data.get("run_id", ""), environment=data.get("environment", {}), timings=data.get("timings", {}),
            cell=cell_of(data), runtimes=data.get("runtimes", {}), counters=data.get("counters", {}),
            pcaps=tuple(data.get("files", {}).get("pcaps", ())), directory=directory)

    def host_of(self, address):
        return host_of(address, self.addresses)

    def observation(self, number):
        return next((o for o in self.observations if o.number == number), None)

    def connection(self, sock, host=None, at=None):
        """The connection of socket `sock` on `host` (any host: None) as of step `at` (None: the run's end)."""
        return next((c for c in reversed(self.connections) if c.sock == sock and host in (None, c.host)
                     and (at is None or c.step <= at)), None)


def cell_of(data):
    """The record's cell; a record from before runtimes ran every host in python, over IPv4."""
    if "cell" in data:
        c = data["cell"]
        return Cell(c["scenario"], c["runtime"], c["family"], c["kernel"])
    kernel = data.get("environment", {}).get("kernel")
    return Cell(data.get("scenario", {}).get("name", ""), "python", DEFAULT_FAMILY, kernel) if kernel else None


def verdict_of(v):
    """result.json's "verdict" as the Verdict it was."""
    return Verdict(
        steps=tuple(StepVerdict(s["number"], s["host"], s["action"], tuple(s["expected"]), s["observed"],
                                s.get("why", ""), s["passed"], tuple(s["seconds"]) if s.get("seconds") else None,
                                s.get("took")) for s in v.get("steps", ())),
        rules=tuple(RuleVerdict(r["text"], r["wanted"], r.get("seen_at"), r["count"], tuple(r.get("packets", ())),
                                r.get("why", ""), r["passed"]) for r in v.get("rules", ())),
        evidence=tuple(Evidence(e["step"], e["outcome"], e["explained"], e["because"], tuple(e["packets"]),
                                e.get("seen_at")) for e in v.get("evidence", ())),
        unhealed=tuple(v.get("unhealed", ())))


SEGMENT_FIELDS = tuple(f.name for f in fields(Segment))


def segment(packet):
    """A packet of result.json (Segment.as_dict) as the Segment it was; its summary is recomputed
    from the same fields (each field came with its part of the summary, so old records agree)."""
    return Segment(**{k: tuple(v) if k == "flags" else v for k, v in packet.items() if k in SEGMENT_FIELDS})
