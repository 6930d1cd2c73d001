"""Expected vs observed: one StepVerdict per step, one RuleVerdict per packet rule.

Inputs are plain data (the scenario, the kernel version, what each step
observed, the segments each capture holds); nothing here talks to a host.

Packet rules are judged on one capture: the receiver's when the rule names
one (the packet reached that host), else the sender's (every packet it sent),
else the first captured host. Each RuleVerdict says which.

    >>> matches(("ok",), 100), matches((100,), 99), matches(("EOF", "ECONNRESET"), "ECONNRESET")
    (True, False, True)
"""

from dataclasses import dataclass, field

from lab.calls import is_success
from lab.evidence import explain
from lab.scenario.model import SUCCESS


def matches(expected, observed):
    return any(observed == e or (e == SUCCESS and is_success(observed)) for e in expected)


@dataclass(frozen=True)
class Observation:
    """What one step did: the agent's event (or a fault's record), reduced to an outcome."""
    number: int
    outcome: object            # the token compared with the expectation
    start: float | None        # CLOCK_REALTIME, comparable with packet times
    end: float | None
    event: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepVerdict:
    number: int
    host: str
    action: str
    expected: tuple
    observed: object
    why: str
    passed: bool

    def as_dict(self):
        return self.__dict__.copy()


@dataclass(frozen=True)
class RuleVerdict:
    text: str
    wanted: str
    seen_at: str | None
    count: int
    packets: tuple             # summaries of the matching segments
    why: str
    passed: bool

    def as_dict(self):
        return {**self.__dict__, "packets": list(self.packets)}


@dataclass(frozen=True)
class Verdict:
    steps: tuple
    rules: tuple
    evidence: tuple = ()       # of evidence.Evidence: the packets behind each failure and EOF

    @property
    def unexplained(self):
        return [e for e in self.evidence if not e.explained]

    @property
    def passed(self):
        return (all(v.passed for v in self.steps) and all(r.passed for r in self.rules)
                and not self.unexplained)


def judge_steps(scenario, kernel, observations):
    by_number = {o.number: o for o in observations}
    verdicts = []
    for step in scenario.steps:
        expect = step.expect.for_kernel(kernel)
        seen = by_number.get(step.number)
        observed = seen.outcome if seen else "not run"
        verdicts.append(StepVerdict(
            number=step.number, host=step.host, action=describe(step), expected=expect.outcomes,
            observed=observed, why=expect.why, passed=seen is not None and matches(expect.outcomes, observed),
        ))
    return tuple(verdicts)


def describe(step):
    args = " ".join(f"{k}={v}" for k, v in step.args.items() if k not in ("options",))
    return f"{step.action} {args}".strip()


def connection(scenario, observations, sock):
    """The two endpoints of the named socket's connection, from its connect/accept event."""
    by_number = {o.number: o for o in observations}
    for step in scenario.steps:
        if step.call in ("connect", "accept") and step.args.get("sock", "conn") == sock:
            event = by_number.get(step.number)
            if event and "local" in event.event:
                return {tuple(event.event["local"]), tuple(event.event["peer"])}
    return None


def on_connection(segment, ends):
    """A TCP segment of the connection, or an ICMP error quoting one of its segments."""
    if segment.icmp:
        return {segment.sport, segment.dport} == {port for _, port in ends}
    return {(segment.src, segment.sport), (segment.dst, segment.dport)} == ends


def judge_rule(rule, scenario, observations, captures, addresses):
    """captures: {host: [Segment]}; addresses: {host: ip}."""
    seen_at = next((h for h in (rule.dst, rule.src) if h in captures), next(iter(captures), None))
    segments = captures.get(seen_at, [])
    ends = connection(scenario, observations, rule.sock) if rule.sock else None
    since = None
    if rule.after:
        start = next((o.start for o in observations if o.number == scenario.step(rule.after).number), None)
        since = start if start is not None else float("inf")  # step never ran: nothing can match
    found = [
        s for s in segments
        if (rule.src is None or s.src == addresses[rule.src])
        and (rule.dst is None or s.dst == addresses[rule.dst])
        and all(flag in s.flags for flag in rule.flags)
        and (s.icmp == rule.icmp if rule.icmp else s.arp == rule.arp if rule.arp else s.tcp)
        and (rule.retransmission is None or s.retransmission == rule.retransmission)
        and (rule.data is None or (s.length > 0) == rule.data)
        and (ends is None or on_connection(s, ends))
        and (since is None or s.ts >= since)
    ]
    never_connected = rule.sock is not None and ends is None  # the rule cannot be confirmed
    if never_connected:
        found = []
    passed = (rule.min <= len(found) and (rule.max is None or len(found) <= rule.max)
              and not never_connected and seen_at is not None)
    return RuleVerdict(text=rule.text, wanted=rule.wanted, seen_at=seen_at, count=len(found),
                       packets=tuple(s.summary for s in found), why=rule.why, passed=passed)


def judge(scenario, kernel, observations, captures, addresses):
    return Verdict(
        steps=judge_steps(scenario, kernel, observations),
        rules=tuple(judge_rule(r.for_kernel(kernel), scenario, observations, captures, addresses)
                    for r in scenario.packets),
        evidence=tuple(explain(scenario, observations, captures, addresses)),
    )
