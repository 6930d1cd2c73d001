"""verdict.judge on hand-made scenarios, observations and segments; calls.outcome and is_success."""

import dataclasses

import pytest

from lab import calls, verdict
from lab.packets import Segment
from lab.record import Observation, RunRecord
from lab.scenario.load import load_text
from lab.scenario.model import WireRule

S, C = "10.0.0.2", "10.0.0.3"
ADDRESSES = {"server": S, "client": C}

STEPS = """\
name: v
summary: s
story: t
hosts:
  server:
  client:
steps:
  - {host: server, call: listen, port: 7000}
  - {host: client, call: connect, to: server, port: 7000}
  - {host: server, call: accept}
  - {id: hit, host: client, call: send, bytes: 100, expect: 100}
  - {host: server, call: recv, expect: [EOF, ECONNRESET], kernels: [{range: "<5.0", expect: EPIPE, why: old}]}
  - {host: client, call: connect, sock: b, to: server, port: 7000, expect: ECONNREFUSED}
  - {host: server, call: recv, expect: ok}
packets:
"""


def scenario(*rules):
    return load_text(STEPS + "".join(f"  - {r}\n" for r in rules or ["{why: w}"]), "v.yaml")


def seg(ts, src, sport, dst, dport, *flags, length=0):
    return Segment(ts=ts, src=src, dst=dst, sport=sport, dport=dport, flags=flags, seq=1, ack=1, length=length)


SEGMENTS = [
    seg(1.0, C, 40000, S, 7000, "SYN"),
    seg(1.1, S, 7000, C, 40000, "SYN", "ACK"),
    seg(1.2, C, 40000, S, 7000, "ACK"),
    seg(2.0, C, 40000, S, 7000, "ACK", "PSH", length=100),   # at step 4's very start
    seg(2.1, S, 7000, C, 40000, "ACK"),
    seg(3.0, C, 40001, S, 7000, "SYN"),                      # sock b: refused
    seg(3.1, S, 7000, C, 40001, "ACK", "RST"),
    seg(4.0, S, 7000, C, 40000, "ACK", "RST"),               # on conn, after step 7 began
]
CAPTURES = {"server": SEGMENTS, "client": SEGMENTS}


def observations(**changes):
    """Every step as it should be; changes: s<number>=outcome, or None to drop that step."""
    obs = {
        1: Observation(1, "ok", 0.5, 0.6),
        2: Observation(2, "ok", 0.9, 1.2, {"op": "connect", "sock": None, "local": [C, 40000], "peer": [S, 7000]}),
        3: Observation(3, "ok", 1.3, 1.3, {"op": "accept", "sock": None, "local": [S, 7000], "peer": [C, 40000]}),
        4: Observation(4, 100, 2.0, 2.0),
        5: Observation(5, "EOF", 2.5, 2.6),
        6: Observation(6, "ECONNREFUSED", 2.9, 3.2, {"op": "connect", "sock": "b", "errno": "ECONNREFUSED"}),
        7: Observation(7, 100, 3.8, 3.9),
    }
    for key, outcome in changes.items():
        n = int(key[1:])
        if outcome is None:
            del obs[n]
        else:
            obs[n] = Observation(n, outcome, obs[n].start, obs[n].end, obs[n].event)
    return list(obs.values())


def judge(*rules, kernel=(6, 1, 0), obs=None, captures=CAPTURES):
    """Steps and packet rules judged; the evidence links have their own tests (test_evidence.py)."""
    v = verdict.judge(scenario(*rules), kernel, observations() if obs is None else obs, captures, ADDRESSES)
    return dataclasses.replace(v, evidence=())


# steps

def test_all_as_expected_passes():
    v = judge("{from: client, flags: SYN, sock: conn, count: 1, why: w}")
    assert v.passed
    assert [s.passed for s in v.steps] == [True] * 7
    assert v.steps[3].as_dict() == {"number": 4, "host": "client", "action": "send bytes=100",
                                    "expected": (100,), "observed": 100, "why": "", "passed": True,
                                    "seconds": None, "took": 0.0}
    assert v.steps[1].action == "connect to=server port=7000"


@pytest.mark.parametrize("number, observed, passed", [
    (5, "EOF", True), (5, "ECONNRESET", True),
    (5, "EPIPE", False), (5, "TIMEOUT", False), (5, 0, False),            # a wrong errno, or anything else
    (6, "ECONNREFUSED", True), (6, "ETIMEDOUT", False), (6, "ok", False),
    (4, 100, True), (4, 99, False), (4, "ok", False),                     # a count is exact
    (7, 100, True), (7, 0, True), (7, "ok", True), (7, "EOF", True),      # ok: any success
    (7, "ECONNRESET", False), (7, "SIGPIPE", False), (7, "TIMEOUT", False),
    (7, "ERROR", False), (7, "exit 1", False),
    (3, "ok", True), (3, "EAGAIN", False),                               # no expect: ok
])
def test_step_outcome(number, observed, passed):
    v = judge(obs=observations(**{f"s{number}": observed}))
    step = v.steps[number - 1]
    assert (step.number, step.observed, step.passed) == (number, observed, passed)
    assert v.passed is passed
    assert all(s.passed for s in v.steps if s.number != number)


def test_missing_observation_is_not_run_and_fails():
    v = judge(obs=observations(s5=None))
    assert (v.steps[4].observed, v.steps[4].passed) == ("not run", False)
    assert not v.passed


def test_no_observations_at_all_fail_even_where_ok_is_expected():
    v = judge("{from: server, flags: FIN, count: 0, why: w}", obs=[])
    assert [s.observed for s in v.steps] == ["not run"] * 7
    assert not any(s.passed for s in v.steps)


@pytest.mark.parametrize("kernel, observed, expected, passed", [
    ((4, 19, 0), "EPIPE", ("EPIPE",), True),
    ((4, 19, 0), "EOF", ("EPIPE",), False),
    ((5, 0, 0), "EOF", ("EOF", "ECONNRESET"), True),
    ((5, 0, 0), "EPIPE", ("EOF", "ECONNRESET"), False),
])
def test_kernel_keyed_expectation(kernel, observed, expected, passed):
    step = judge(kernel=kernel, obs=observations(s5=observed)).steps[4]
    assert (step.expected, step.passed) == (expected, passed)
    assert step.why == ("old" if kernel < (5, 0, 0) else "")


# packet rules

@pytest.mark.parametrize("rule, count, passed", [
    ("{from: client, flags: SYN}", 2, True),                    # both connections; default min 1
    ("{from: client, flags: SYN, sock: conn, count: 1}", 1, True),
    ("{from: client, flags: SYN, count: 1}", 2, False),
    ("{from: server, flags: [SYN, ACK], count: 1}", 1, True),   # every flag named must be set
    ("{to: server, flags: [SYN, ACK], count: 0}", 0, True),
    ("{from: server, to: client, flags: RST, count: 2}", 2, True),
    ("{from: server, flags: RST, sock: conn, count: 1}", 1, True),
    ("{from: server, flags: RST, sock: conn, count: 0}", 1, False),
    ("{from: client, to: server, flags: RST, count: 0}", 0, True),
    ("{from: server, flags: RST, after: 6, count: 2}", 2, True),
    ("{from: server, flags: RST, after: 7, count: 1}", 1, True),
    ("{from: server, flags: RST, after: 7, sock: conn, count: 1}", 1, True),
    ("{from: client, data: true, after: hit, count: 1}", 1, True),   # a segment at the start counts
    ("{from: client, data: true, after: 5, count: 0}", 0, True),
    ("{from: client, data: false, count: 3}", 3, True),
    ("{from: client, data: true, payload: {min: 100}, count: 1}", 1, True),   # payload bounds are inclusive
    ("{from: client, data: true, payload: {min: 101}, count: 0}", 0, True),
    ("{from: client, payload: {max: 99}, count: 3}", 3, True),                # the three without data
    ("{from: client, flags: FIN, count: 0}", 0, True),
    ("{from: client, flags: FIN}", 0, False),
    ("{flags: ACK, max: 3}", 6, False),
    ("{flags: PSH, min: 1, max: 1}", 1, True),
    ("{flags: SYN, sock: b, count: 0}", 0, False),     # b never connected: cannot be confirmed
    ("{flags: SYN, sock: b, min: 1}", 0, False),
])
def test_rule(rule, count, passed):
    v = judge(rule[:-1] + ", why: w}")
    (r,) = v.rules
    assert (r.count, r.passed) == (count, passed)
    assert len(r.packets) == count
    assert v.passed is passed


def test_rule_verdict_lists_the_matching_packets():
    (r,) = judge("{from: server, flags: RST, sock: conn, after: 7, count: 1, why: reset}").rules
    assert r.packets == (f"{S}:7000 > {C}:40000 ACK+RST seq=1 ack=1 len=0",)
    assert (r.text, r.wanted, r.why, r.seen_at) == ("RST server→* on conn after step 7", "1", "reset", "server")
    assert r.as_dict()["packets"] == list(r.packets)


def test_connection_from_accept_when_connect_has_none():
    obs = observations()
    obs[1] = Observation(2, "ok", 0.9, 1.2, {"op": "connect", "sock": None})
    run = RunRecord.of(obs, CAPTURES, ADDRESSES, {s.number: s.host for s in scenario().steps})
    assert run.connection("conn").ends == {(S, 7000), (C, 40000)} and run.connection("conn", "client") is None
    (r,) = judge("{flags: RST, sock: conn, count: 1, why: w}", obs=obs).rules
    assert (r.count, r.passed) == (1, True)


def test_after_a_step_that_never_ran_matches_nothing():
    (r,) = judge("{from: server, flags: RST, after: 7, count: 1, why: w}", obs=observations(s7=None)).rules
    assert (r.count, r.passed) == (0, False)


@pytest.mark.parametrize("rule, captured, seen_at", [
    ("{from: server, to: client, why: w}", ("server", "client"), "client"),   # the receiver's
    ("{from: server, to: client, why: w}", ("server",), "server"),            # else the sender's
    ("{from: client, why: w}", ("server", "client"), "client"),
    ("{to: server, why: w}", ("client", "server"), "server"),
    ("{flags: SYN, why: w}", ("client", "server"), "client"),                 # else the first
    ("{from: client, to: server, why: w}", (), None),
])
def test_which_capture_a_rule_is_judged_on(rule, captured, seen_at):
    (r,) = judge(rule, captures={h: CAPTURES[h] for h in captured}).rules
    assert r.seen_at == seen_at
    assert r.passed is (seen_at is not None)


def test_only_the_chosen_capture_counts():
    captures = {"server": SEGMENTS, "client": []}
    (r,) = judge("{from: server, to: client, flags: RST, why: w}", captures=captures).rules
    assert (r.seen_at, r.count, r.passed) == ("client", 0, False)


# calls

@pytest.mark.parametrize("op, event, token", [
    ("recv", {"ret": 0}, "EOF"),
    ("recv", {"ret": 5}, 5),
    ("send", {"ret": 0}, 0),
    ("send", {"ret": 100}, 100),
    ("listen", {}, "ok"),
    ("close", {"ret": None}, "ok"),
    ("send", {"errno": "EPIPE", "strerror": "Broken pipe"}, "EPIPE"),
    ("recv", {"errno": "ECONNRESET"}, "ECONNRESET"),
    ("send", {"exit": 141}, "SIGPIPE"),
    ("recv", {"exit": 137}, "SIGKILL"),
    ("recv", {"exit": 1}, "exit 1"),
    ("recv", {"exit": 200}, "exit 200"),          # 128+72 is no signal
    ("recv", {"timeout": 5, "hung": True}, "TIMEOUT"),
    ("recv", {"error": "bad command", "errno": "EINVAL"}, "ERROR"),
    ("recv", {"timeout": 5, "errno": "EAGAIN"}, "TIMEOUT"),
])
def test_outcome(op, event, token):
    assert calls.outcome(op, event) == token


@pytest.mark.parametrize("token, success", [
    (0, True), (100, True), ("ok", True), ("EOF", True), ("CLOSE_WAIT", True),
    ("ECONNRESET", False), ("EPIPE", False), ("SIGPIPE", False), ("SIGKILL", False),
    ("TIMEOUT", False), ("ERROR", False), ("exit 1", False),
])
def test_is_success(token, success):
    assert calls.is_success(token) is success


@pytest.mark.parametrize("expected, observed, result", [
    (("ok",), 100, True), (("ok",), "EPIPE", False), ((100,), 99, False),
    (("EOF", "ECONNRESET"), "ECONNRESET", True), (("SIGPIPE",), "SIGPIPE", True), ((0,), "EOF", False),
])
def test_matches(expected, observed, result):
    assert verdict.matches(expected, observed) is result


def test_a_counter_rule_judges_how_much_its_host_counted_between_before_and_after():
    rule = WireRule(line=1, why="two SYNs dropped", counter="ListenOverflows", at="server", min=2, max=2)
    run = RunRecord.of([], {}, ADDRESSES, {}, {"before": {"server": {"TcpExt.ListenOverflows": 5}},
                                                 "after": {"server": {"TcpExt.ListenOverflows": 7}}})
    judged = verdict.judge_rule(rule, None, run)
    assert (judged.count, judged.passed, judged.seen_at, judged.text) == (2, True, "server",
                                                                         "counter ListenOverflows at server")
    gone = RunRecord.of([], {}, ADDRESSES, {}, {"before": {"server": {"TcpExt.ListenOverflows": 5}}, "after": {}})
    assert not verdict.judge_rule(rule, None, gone).passed, "a host that could not be read after the steps fails"


# how long a call takes (seconds), when packets leave (within)

def timed(seconds, kernel=(6, 18, 0), family="4"):
    """Step 6 (connect b: ECONNREFUSED, observed 2.9 to 3.2: 0.3 s) with this seconds text; its verdict."""
    text = STEPS.replace("expect: ECONNREFUSED}", f"expect: ECONNREFUSED, {seconds}}}") + "  - {why: w}\n"
    v = verdict.judge(load_text(text, "v.yaml"), kernel, observations(), CAPTURES, ADDRESSES, family=family,
                      runtimes={"server": "python", "client": "python"})
    return v.steps[5]


@pytest.mark.parametrize("seconds, kernel, family, passed", [
    ("seconds: {min: 0.2, max: 0.4}", (6, 18, 0), "4", True),
    ("seconds: '0.25-0.35'", (6, 18, 0), "4", True),
    ("seconds: '0.31-0.5'", (6, 18, 0), "4", False),        # too quick
    ("seconds: {max: 0.29}", (6, 18, 0), "4", False),       # too slow
    ("seconds: {min: 0.1}", (6, 18, 0), "4", True),
    # a kernels entry's window wins where it matches; one without seconds keeps the step's
    ("seconds: '0.2-0.4', kernels: [{range: '<6.5', seconds: '1-2', why: old}]", (6, 1, 0), "4", False),
    ("seconds: '0.2-0.4', kernels: [{range: '<6.5', seconds: '1-2', why: old}]", (6, 18, 0), "4", True),
    ("seconds: '1-2', kernels: [{range: '<6.5', expect: ECONNREFUSED, why: old}]", (6, 1, 0), "4", False),
    # a family's entry wins over the step's, and its own kernels over it
    ("seconds: '1-2', families: [{family: 6, seconds: '0.2-0.4', why: v6}]", (6, 18, 0), "6", True),
    ("seconds: '1-2', families: [{family: 6, seconds: '0.2-0.4', why: v6}]", (6, 18, 0), "4", False),
    ("families: [{family: 6, seconds: '0.2-0.4', why: v6, kernels: [{range: '<6.5', seconds: '5-6', why: k}]}]",
     (6, 1, 0), "6", False),
    # a runtime's entry wins over all (the python runtime runs the step here); one without seconds keeps the step's
    ("seconds: '1-2', runtimes: [{runtime: python, expect: ECONNREFUSED, seconds: '0.2-0.4', why: r}]", (6, 18, 0), "4",
     True),
    ("seconds: '1-2', runtimes: [{runtime: python, expect: ECONNREFUSED, why: r}]", (6, 18, 0), "4", False),
])
def test_a_step_passes_only_in_its_time_window(seconds, kernel, family, passed):
    step = timed(seconds, kernel, family)
    assert step.observed == "ECONNREFUSED" and step.took == pytest.approx(0.3)
    assert step.passed is passed


def test_a_step_out_of_its_window_says_how_long_it_took():
    from lab.scenario.windows import seen, wanted
    step = timed("seconds: '1-2'")
    assert (wanted(step), seen(step)) == ("ECONNREFUSED in 1–2 s", "ECONNREFUSED in 0.300 s")


@pytest.mark.parametrize("rule, kernel, packets", [
    # the RSTs from the server: 3.1 (0.2 s after step 6 began at 2.9) and 4.0 (1.1 s after)
    ("{from: server, flags: RST, after: 6, count: 2}", (6, 18, 0), [3.1, 4.0]),
    ("{from: server, flags: RST, after: 6, within: {min: 0.1, max: 0.3}, count: 1}", (6, 18, 0), [3.1]),
    ("{from: server, flags: RST, after: 6, within: '0.5-2', count: 1}", (6, 18, 0), [4.0]),
    ("{from: server, flags: RST, after: 6, within: {max: 0.1}, count: 0}", (6, 18, 0), []),
    ("{from: server, flags: RST, after: 6, within: {min: 0.21}, count: 1}", (6, 18, 0), [4.0]),
    ("{from: server, flags: RST, after: 6, within: '0-0.3', count: 1, kernels: [{range: '<6.5', within: '1-2', "
     "count: 1, why: k}]}", (6, 1, 0), [4.0]),
    ("{from: server, flags: RST, after: 6, within: '0-0.3', count: 1, kernels: [{range: '<6.5', count: 1, why: k}]}",
     (6, 1, 0), [3.1]),
])
def test_within_counts_only_the_packets_in_its_window(rule, kernel, packets):
    (r,) = judge(rule[:-1] + ", why: w}", kernel=kernel).rules
    times = {seg.summary: seg.ts for seg in SEGMENTS}
    assert sorted(times[p] for p in r.packets) == packets
    assert r.passed
