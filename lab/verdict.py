"""Expected vs observed: one StepVerdict per step, one RuleVerdict per packet rule.

Inputs are plain data (the scenario, the kernel version, what each step
observed, the segments each capture holds); nothing here talks to a host.

Packet rules are judged on one capture: the receiver's when the rule names
one (the packet reached that host), else the sender's (every packet it sent),
else the first captured host. Each RuleVerdict says which. A rule that names
a socket counts only that socket's connection: the sender's socket of that
name, else the receiver's (record.RunRecord.connection says which it is).

    >>> matches(("ok",), 100), matches((100,), 99), matches(("EOF", "ECONNRESET"), "ECONNRESET")
    (True, False, True)
"""

import ipaddress

from lab import counters
from lab.calls import is_success
from lab.evidence import explain
from lab.record import RuleVerdict, RunRecord, StepVerdict, Verdict, alias
from lab.scenario.model import SUCCESS
from lab.scenario.windows import inside


def matches(expected, observed):
    return any(observed == e or (e == SUCCESS and is_success(observed)) for e in expected)


def judge_steps(scenario, kernel, run, runtimes, family):
    verdicts = []
    for step in scenario.steps:
        expect = step.expect.for_cell(kernel, runtimes, step.host, family)
        seen = run.observation(step.number)
        observed = seen.outcome if seen else "not run"
        took = seen.end - seen.start if seen and None not in (seen.start, seen.end) else None
        in_time = expect.seconds is None or (took is not None and inside(expect.seconds, took))
        verdicts.append(StepVerdict(
            number=step.number, host=step.host, action=describe(step), expected=expect.outcomes,
            observed=observed, why=expect.why, seconds=expect.seconds, took=took,
            passed=seen is not None and matches(expect.outcomes, observed) and in_time,
        ))
    return tuple(verdicts)


def describe(step):
    args = " ".join(f"{k}={v}" for k, v in step.args.items() if k not in ("options",))
    return f"{step.action} {args}".strip()


def on_connection(segment, ends):
    """A TCP segment of the connection, or an ICMP error quoting one of its segments."""
    if segment.icmp:
        return {segment.sport, segment.dport} == {port for _, port in ends}
    return {(segment.src, segment.sport), (segment.dst, segment.dport)} == ends


def address_of(run, host, family):
    """A host's address in the rule's family: its run address, or its alias's (record.alias)."""
    return run.addresses.get(alias(host, family), run.addresses[host]) if family else run.addresses[host]


def judge_counter(rule, run):
    """A counter rule: how much the counter grew at its host between the readings before and after the steps."""
    grew = counters.delta(run.counters.get("before", {}).get(rule.at), run.counters.get("after", {}).get(rule.at),
                          rule.counter)
    passed = grew is not None and rule.min <= grew and (rule.max is None or grew <= rule.max)
    return RuleVerdict(text=rule.text, wanted=rule.wanted, seen_at=rule.at, count=grew if grew is not None else -1,
                       packets=(), why=rule.why, passed=passed)


def judge_rule(rule, scenario, run):
    """Count the rule's packets in one capture of the run (a record.RunRecord being judged)."""
    if rule.counter:
        return judge_counter(rule, run)
    seen_at = next((h for h in (rule.dst, rule.src) if h in run.packets), next(iter(run.packets), None))
    segments = run.packets.get(seen_at, [])
    conn = rule_connection(rule, run)
    ends = conn.ends if conn else None
    since, until = None, None
    if rule.after:
        after = run.observation(scenario.step(rule.after).number)
        since = after.start if after and after.start is not None else float("inf")  # never ran: nothing matches
        if rule.within:
            low, high = rule.within
            since, until = since + (low or 0), None if high is None else since + high
    found = [
        s for s in segments
        if (rule.src is None or s.src == address_of(run, rule.src, rule.family))
        and (rule.dst is None or s.dst == address_of(run, rule.dst, rule.family))
        and (rule.family is None or ipaddress.ip_address(s.src).version == int(rule.family))
        and all(flag in s.flags for flag in rule.flags)
        and (s.icmp == rule.icmp if rule.icmp else s.arp == rule.arp if rule.arp else s.nd == rule.nd if rule.nd
             else s.tcp)
        and (rule.retransmission is None or s.retransmission == rule.retransmission)
        and (rule.data is None or (s.length > 0) == rule.data)
        and (rule.payload is None or inside(rule.payload, s.length))
        and (ends is None or on_connection(s, ends))
        and (since is None or s.ts >= since) and (until is None or s.ts <= until)
    ]
    never_connected = rule.sock is not None and ends is None  # the rule cannot be confirmed
    if never_connected:
        found = []
    passed = (rule.min <= len(found) and (rule.max is None or len(found) <= rule.max)
              and not never_connected and seen_at is not None)
    return RuleVerdict(text=rule.text, wanted=rule.wanted, seen_at=seen_at, count=len(found),
                       packets=tuple(s.summary for s in found), why=rule.why, passed=passed)


def rule_connection(rule, run):
    """The socket a rule names: its sender's, else its receiver's, else any host's of that name."""
    if rule.sock is None:
        return None
    hosts = [h for h in (rule.src, rule.dst) if h] + [None]
    return next(filter(None, (run.connection(rule.sock, host) for host in hosts)), None)


def judge(scenario, kernel, observations, captures, addresses, runtimes=None, family="4", counted=None):
    """captures: {host: [Segment]}; addresses: {host: ip}; runtimes: {host: runtime name}; family "4" or "6";
    counted: {"before"|"after": {host: {counter: value}}}."""
    runtimes = runtimes or {}
    run = RunRecord.of(observations, captures, addresses, {s.number: s.host for s in scenario.steps}, counted)
    return Verdict(
        steps=judge_steps(scenario, kernel, run, runtimes, family),
        rules=tuple(judge_rule(r.for_cell(kernel, runtimes, family), scenario, run) for r in scenario.packets),
        evidence=tuple(explain(scenario, run)),
    )
