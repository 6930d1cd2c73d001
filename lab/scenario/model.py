"""A scenario as plain frozen dataclasses: what load.py produces, what the runner reads.

A Step is one of three kinds, told apart by which of `call`, `wait`, `fault`
is set: a socket call made by a host's agent, a wait on an observable
condition, or a fault injected into a host. An Expect says which outcomes
pass; a WireRule says which packets the capture must (or must not) hold.

    >>> Expect(outcomes=("EOF",)).for_kernel((6, 18, 44)).outcomes
    ('EOF',)
"""

import re
from dataclasses import dataclass, field, replace

from lab.scenario.windows import seconds_text

SUCCESS = "ok"  # the outcome token for "any result that is not an error"


def parse_version(text):
    """ "6.18.44-fc-v669" -> (6, 18, 44)"""
    parts = []
    for piece in text.split("-")[0].split(".")[:3]:
        digits = re.match(r"\d*", piece).group()  # "12+deb13" -> 12
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (3 - len(parts)))


def in_range(version, spec):
    """Does version satisfy spec, e.g. ">=5.10,<6.1"?"""
    ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           "<": lambda a, b: a < b, "==": lambda a, b: a == b}
    for clause in spec.split(","):
        clause = clause.strip()
        op = next(o for o in (">=", "<=", "==", ">", "<") if clause.startswith(o))
        if not ops[op](version, parse_version(clause[len(op):].strip())):
            return False
    return True


@dataclass(frozen=True)
class KernelExpect:
    range: str
    outcomes: tuple
    why: str
    seconds: tuple | None = None   # (low, high): how long the call takes on these kernels; None: the step's


@dataclass(frozen=True)
class RuntimeExpect:
    """What a step sees when a host (the step's own by default) runs this runtime, where it
    differs from the kernel's outcome: another outcome, or (`words`) the exact text of a
    failure the runtime gives no errno for."""
    runtime: str
    outcomes: tuple
    why: str
    words: str | None = None
    host: str | None = None
    seconds: tuple | None = None   # how long the call takes in this runtime; None: the step's


@dataclass(frozen=True)
class FamilyExpect:
    """What a step sees over this address family where it differs from the other's (and, with
    `kernels`, where that differs by kernel too)."""
    family: str
    outcomes: tuple
    why: str
    kernels: tuple = ()   # of KernelExpect
    seconds: tuple | None = None   # how long the call takes over this family; None: the step's


@dataclass(frozen=True)
class Expect:
    outcomes: tuple = (SUCCESS,)
    why: str = ""
    kernels: tuple = ()   # of KernelExpect, first match wins
    runtimes: tuple = ()  # of RuntimeExpect; a runtime's entry wins over families and kernels
    families: tuple = ()  # of FamilyExpect; wins over kernels
    seconds: tuple | None = None   # (low, high), either may be None: the call's end - start must lie in it

    def for_kernel(self, version):
        """The first kernels entry in range; its seconds where it gives them, else the step's.

        >>> e = Expect(("ETIMEDOUT",), seconds=(3.0, 3.1), kernels=(KernelExpect("<6.5", ("ETIMEDOUT",), "old",
        ...            (2.9, 3.2)), KernelExpect("<7", ("ETIMEDOUT",), "new")))
        >>> e.for_kernel((5, 10, 0)).seconds, e.for_kernel((6, 18, 0)).seconds, e.for_kernel((7, 2, 0)).seconds
        ((2.9, 3.2), (3.0, 3.1), (3.0, 3.1))
        """
        for k in self.kernels:
            if in_range(version, k.range):
                return Expect(outcomes=k.outcomes, why=k.why, seconds=k.seconds or self.seconds)
        return self

    def for_cell(self, version, runtimes, host, family="4"):
        """What step on `host` expects of this kernel, the hosts' runtimes ({host: runtime}) and family.

        >>> e = Expect(("ECONNRESET",), runtimes=(RuntimeExpect("java-nio", (), "no errno", words="boom"),))
        >>> e.for_cell((6, 18, 0), {"a": "java-nio"}, "a").outcomes, e.for_cell((6, 18, 0), {"a": "c"}, "a").outcomes
        (('boom',), ('ECONNRESET',))
        """
        for r in self.runtimes:
            if runtimes.get(r.host or host) == r.runtime:
                return Expect(outcomes=(r.words,) if r.words else r.outcomes, why=r.why, seconds=r.seconds or self.seconds)
        for f in self.families:
            if f.family == family:
                return Expect(outcomes=f.outcomes, why=f.why, kernels=f.kernels,
                              seconds=f.seconds or self.seconds).for_kernel(version)
        return self.for_kernel(version)


@dataclass(frozen=True)
class Step:
    number: int                # 1-based, as shown to the user
    line: int                  # in the YAML file
    host: str
    call: str | None = None    # a kind declared in lab/scenario/calls.py
    wait: str | None = None    # likewise
    fault: str | None = None   # a kind declared on a class in lab/faults/, or heal
    args: dict = field(default_factory=dict)  # the arguments the kind declares, as given
    expect: Expect = Expect()
    id: str | None = None
    timeout: float = 5.0

    @property
    def action(self):
        return self.call or (f"wait {self.wait}" if self.wait else f"fault {self.fault}")

    @property
    def label(self):
        return self.id or str(self.number)


def wanted(low, high):
    """A packet count as the user wrote it: exact, at least, or a range."""
    if high == low:
        return f"{low}"
    return f"≥{low}" if high is None else f"{low}..{high}"


@dataclass(frozen=True)
class KernelCount:
    range: str
    min: int
    max: int | None
    why: str
    within: tuple | None = None   # this kernel range's time window (WireRule.within); None: the rule's

    @property
    def wanted(self):
        return wanted(self.min, self.max)


@dataclass(frozen=True)
class RuntimeCount:
    runtime: str
    host: str          # the host whose runtime decides
    min: int
    max: int | None
    why: str


@dataclass(frozen=True)
class FamilyRule:
    """The rule as it reads over this address family: the fields that differ (a count, the ICMP
    kind, nd in place of arp) and why."""
    family: str
    changes: dict
    why: str
    kernels: tuple = ()   # of KernelCount: this family's count on some kernels


@dataclass(frozen=True)
class WireRule:
    line: int
    why: str
    src: str | None = None     # host names
    dst: str | None = None
    flags: tuple = ()          # all of these must be set: SYN, ACK, FIN, RST, PSH
    sock: str | None = None    # only the connection of this named socket
    after: str | None = None   # step label: only packets from that step's start on
    within: tuple | None = None  # (low, high) seconds after the `after` step's start: only packets then
    data: bool | None = None   # with payload (True) or without (False)
    payload: tuple | None = None  # (low, high) bytes of TCP payload, either None for open: only segments that carry so much
    icmp: str | None = None    # an ICMP (or ICMPv6: icmp6-...) error of this kind
    arp: str | None = None     # an ARP request or reply
    nd: str | None = None      # an IPv6 neighbour solicitation or advertisement
    family: str | None = None  # only this family's packets (an IPv6 run's IPv4 ones); None: the run's
    counter: str | None = None  # not packets: how much this kernel counter of host `at` grew (counters.py)
    at: str | None = None
    retransmission: bool | None = None
    min: int = 0
    max: int | None = None
    kernels: tuple = ()        # of KernelCount, first match wins
    runtimes: tuple = ()       # of RuntimeCount: a host's runtime that changes the count; wins over the rest
    families: tuple = ()       # of FamilyRule; wins over kernels
    id: str | None = None      # unique among the scenario's step and rule ids: what a text's [tag] names

    def for_cell(self, version, runtimes, family="4"):
        """This rule as it reads for a kernel, the hosts' runtimes ({host: runtime}) and a family.

        >>> rule = WireRule(1, "ARP", arp="request", families=(FamilyRule("6", {"arp": None, "nd": "solicitation"}, "ND"),))
        >>> rule.for_cell((6, 18, 0), {}, "6").text, rule.for_cell((6, 18, 0), {}, "4").text
        ('ND solicitation *→*', 'ARP request *→*')
        """
        for r in self.runtimes:
            if runtimes.get(r.host) == r.runtime:
                return replace(self, min=r.min, max=r.max, why=r.why, kernels=(), runtimes=(), families=())
        for f in self.families:
            if f.family == family:
                return replace(self, **f.changes, why=f.why, kernels=f.kernels, runtimes=(), families=()
                               ).for_kernel(version)
        return self.for_kernel(version)

    def for_kernel(self, version):
        """This rule with the count and reason of the first kernel range that matches.

        >>> rule = WireRule(1, "twice", min=2, max=2, kernels=(KernelCount("<6.5", 1, 1, "once"),))
        >>> rule.for_kernel((5, 10, 262)).wanted, rule.for_kernel((6, 18, 44)).wanted
        ('1', '2')
        """
        for k in self.kernels:
            if in_range(version, k.range):
                return replace(self, min=k.min, max=k.max, why=k.why, kernels=(), within=k.within or self.within)
        return self

    @property
    def text(self):
        if self.counter:
            return f"counter {self.counter} at {self.at}"
        parts = [f"ICMP {self.icmp}" if self.icmp else f"ARP {self.arp}" if self.arp else f"ND {self.nd}" if self.nd
                 else "+".join(self.flags) or "any"]
        if self.retransmission is not None:
            parts[0] += " retransmitted" if self.retransmission else " first sent"
        if self.family:
            parts[0] += f" over IPv{self.family}"
        parts += [f"{self.src or '*'}→{self.dst or '*'}"]
        if self.sock:
            parts.append(f"on {self.sock}")
        if self.data is not None:
            parts.append("with data" if self.data else "without data")
        if self.payload:
            parts.append("of " + seconds_text(self.payload).removesuffix(" s") + " bytes")
        if self.after:
            parts.append(f"after step {self.after}" if self.within is None
                         else f"{seconds_text(self.within).removesuffix(' s')} s after step {self.after} began")
        return " ".join(parts)

    @property
    def wanted(self):
        return wanted(self.min, self.max)


@dataclass(frozen=True)
class HostOptions:
    sigpipe: str = "ignore"    # or "default": a write to a reset socket kills the agent
    capture: bool = True
    router: bool = False       # forwards packets between the others; its faults sit on FORWARD
    via: str | None = None     # reach every other host through this router
    runtime: str | None = None  # its agent's runtime (lab/runtimes.py); None: the run's choice


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    summary: str
    story: str
    hosts: dict                # name -> HostOptions
    steps: tuple
    packets: tuple
    line: int = 1
    families: tuple = ("4", "6")   # the address families it makes sense in
    family_why: str = ""           # why only those, when not both

    def family_gap(self, family):
        """Why a run over `family` is SKIPPED, or None when the scenario makes sense in it."""
        if family in self.families:
            return None
        return f"IPv{family}: this scenario is IPv{'/'.join(self.families)} only: {self.family_why}"

    def step(self, label):
        """A step by id or by number (a step with an id still answers to its number)."""
        return next(s for s in self.steps if str(label) in (s.label, str(s.number)))
