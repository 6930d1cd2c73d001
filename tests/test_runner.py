"""The runner's own promises, on the fake backend (tests/fakes.py): no Docker, no root.

- steps run in order, one observation each, with the outcome the agent or the fault gave;
- every fault still in place is reverted at the end, latest first; one that cannot be
  reverted is named in the verdict's `unhealed` and the others are reverted all the same,
  while "already gone" (the rule or the whole host) is no failure;
- a heal step whose revert fails is an ERROR outcome;
- an agent that dies in a call (SIGPIPE) or is killed gives that outcome, and its host's next
  call starts a new one; a hung agent ends the steps, the rest "not run";
- teardown (down) runs once, whatever ends the run: success, a failed expectation, an
  exception, or Ctrl-C in any phase (a Ctrl-C during up, the final heals, the capture's
  stop or down itself waits until that phase is done, then unwinds);
- a scenario not made for the run's address family is skipped before any host is made.
"""

import os
import re
import signal

import pytest

from fakes import FakeBackend, refused, scenario_text
from lab import runner
from lab.backends.base import ExecResult
from lab.errors import SetupError
from lab.scenario.load import load_text
from named_steps import observation

SCENARIO = scenario_text("""\
  - {host: server, call: listen, port: 7000}
  - {host: client, call: connect, to: server, port: 7000}
  - {host: server, call: accept}
  - {id: cut, host: server, fault: drop, peer: client}
  - {host: client, call: send, bytes: 5, expect: 5}
  - {host: server, fault: heal, of: cut}
  - {id: slow, host: client, fault: rate, rate: 1mbit}
  - {id: wall, host: server, fault: reject, port: 7000}
  - {host: server, call: recv, expect: 5}
  - {host: client, call: exit}
""")
BYTES = {"send": {"ret": 5}, "recv": {"ret": 5}}


def scenario(text=SCENARIO):
    return load_text(text, "fake-run.yaml")


def answers(table):
    """An on_agent script: each op's answer from table, else ok."""
    return lambda call, cmd: table.get(cmd["op"], {})


def fail_when(words, result=None, raising=None):
    """An on_exec script: the calls whose text starts with words fail so (the others succeed)."""
    def on_exec(call):
        if call.text.startswith(words):
            if raising is not None:
                raise raising
            return result
    return on_exec


def run(backend, text=SCENARIO):
    return runner.run(scenario(text), backend, run_id="r1")


def actions(backend):
    """What the steps did to the hosts: agent calls and fault commands, in order."""
    return [line.replace(" -m comment --comment tfl-r1-", " #") for line in backend.calls()
            if ": agent " in line or " iptables " in line or " tc " in line]


def test_steps_run_in_order_with_one_observation_each():
    backend = FakeBackend(on_agent=answers(BYTES))
    res = run(backend)
    assert [o.number for o in res.observations] == [s.number for s in res.scenario.steps]
    assert [o.outcome for o in res.observations] == ["ok", "ok", "ok", "ok", 5, "ok", "ok", "ok", 5, "ok"]
    server, client = res.addresses["server"], res.addresses["client"]
    assert actions(backend) == [
        "server: agent listen", "client: agent connect", "server: agent accept",
        f"server: iptables -I INPUT 1 -p tcp -s {client} -j DROP #cut",
        "client: agent send",
        f"server: iptables -D INPUT -p tcp -s {client} -j DROP #cut",
        "client: tc qdisc replace dev eth0 root tbf rate 1mbit burst 16kb latency 200ms",
        "server: iptables -I INPUT 1 -p tcp --dport 7000 -j REJECT --reject-with tcp-reset #wall",
        "server: agent recv", "client: agent exit",
        # the faults still in place at the end, latest first
        "server: iptables -D INPUT -p tcp --dport 7000 -j REJECT --reject-with tcp-reset #wall",
        "client: tc qdisc del dev eth0 root",
    ]
    assert observation(res, id="cut").event["fault"].startswith("drop server: INPUT -p tcp -s " + client)
    sent = [line for entry in res.agent_logs["client"] if '"connect"' in (line := entry["line"])]
    assert f'"addr": "{server}"' in sent[0]  # `to: server` went out as the server's address
    assert res.verdict.passed and res.verdict.unhealed == ()
    assert backend.calls()[-1] == "down" and backend.calls().count("down") == 1


def test_a_revert_that_fails_at_the_end_is_unhealed_and_the_others_are_still_reverted():
    backend = FakeBackend(on_agent=answers(BYTES),
                          on_exec=fail_when("iptables -D INPUT -p tcp --dport", refused("iptables: Permission denied")))
    res = run(backend)
    (line,) = res.verdict.unhealed
    assert line.startswith("step wall (reject): `iptables -D INPUT") and "Permission denied" in line
    assert "client: tc qdisc del dev eth0 root" in backend.calls()  # reverted after the failure
    assert not res.verdict.passed and backend.calls()[-1] == "down"


def test_a_fault_already_gone_at_the_end_is_no_failure():
    def on_exec(call):
        if call.argv[:2] == ("iptables", "-D"):
            return refused("iptables: Bad rule (does a matching rule exist in that chain?).")
        if call.argv[:3] == ("tc", "qdisc", "del"):
            return refused("Error: Cannot delete qdisc with handle of zero.")
    backend = FakeBackend(on_agent=answers(BYTES), on_exec=on_exec)
    res = run(backend)
    assert res.verdict.unhealed == () and res.verdict.passed
    assert sum(" -D " in line or " del " in line for line in backend.calls()) == 3


def test_faults_of_a_stopped_host_went_with_it():
    text = SCENARIO.replace("  - {host: server, call: recv, expect: 5}\n",
                            "  - {host: server, fault: stop}\n")
    backend = FakeBackend(on_agent=answers(BYTES))
    res = run(backend, text)
    assert res.verdict.unhealed == () and res.verdict.passed
    after_stop = backend.calls()[backend.calls().index("server: stop"):]
    assert "client: tc qdisc del dev eth0 root" in after_stop
    assert any(line.startswith("server: iptables -D") for line in after_stop)  # tried: HostGone, and fine


def test_a_heal_whose_revert_fails_is_an_error():
    backend = FakeBackend(on_agent=answers(BYTES), on_exec=fail_when("iptables -D INPUT -p tcp -s",
                                                                      refused("iptables: Permission denied")))
    res = run(backend)
    heal = observation(res, fault="heal")
    assert heal.outcome == "ERROR"
    assert heal.event["fault"] == "heal of step cut failed" and "Permission denied" in heal.event["error"]
    assert [v.passed for v in res.verdict.steps].count(False) == 1 and not res.verdict.passed


def test_a_fault_the_host_refuses_is_an_error_and_the_run_goes_on():
    backend = FakeBackend(on_agent=answers(BYTES), on_exec=fail_when("iptables -I INPUT 1 -p tcp --dport",
                                                                      refused("iptables: No chain/target/match")))
    res = run(backend)
    wall = observation(res, id="wall")
    assert wall.outcome == "ERROR" and "No chain/target/match" in wall.event["error"]
    assert len(res.observations) == 10 and res.verdict.unhealed == ()


# teardown, whatever ends the run

def test_a_failed_expectation_still_tears_down():
    backend = FakeBackend(on_agent=answers({**BYTES, "recv": {"errno": "ECONNRESET", "strerror": "reset"}}))
    res = run(backend)
    assert observation(res, call="recv").outcome == "ECONNRESET" and not res.verdict.passed
    assert backend.calls().count("down") == 1 and backend.calls()[-1] == "down"


@pytest.mark.parametrize("phase, words, error", [
    ("setup", "capture start", SetupError("tcpdump did not start")),
    ("steps", "client: agent send", RuntimeError("a bug in the middle of a step")),
    ("capture", "capture stop", SetupError("a capture did not stop")),
])
def test_an_exception_in_any_phase_still_heals_and_tears_down(phase, words, error):
    def on_exec(call):
        if f"{call.host}: {call.text}".startswith(words) or call.text.startswith(words):
            raise error
    backend = FakeBackend(on_agent=answers(BYTES), on_exec=on_exec)
    with pytest.raises(type(error)):
        run(backend)
    calls = backend.calls()
    assert calls.count("down") == 1 and calls[-1] == "down"
    assert_no_fault_left(calls)


def assert_no_fault_left(calls):
    inserted = [line.split(" -I ")[1].split(" 1 ", 1)[1] for line in calls if " iptables -I " in line]
    deleted = [line.split(" -D ")[1].split(" ", 1)[1] for line in calls if " iptables -D " in line]
    assert sorted(inserted) == sorted(deleted)
    assert sum(" tc qdisc replace " in line for line in calls) == sum(" tc qdisc del " in line for line in calls)


@pytest.fixture
def ctrl_c():
    """Ctrl-C as the terminal sends it: SIGINT to this process, under Python's own handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sent = []

    def at(words):
        def on_exec(call):
            if not sent and (call.text.startswith(words) or f"{call.host}: {call.text}".startswith(words)):
                sent.append(call)
                os.kill(os.getpid(), signal.SIGINT)
        return on_exec
    yield at
    signal.signal(signal.SIGINT, previous)
    assert sent, "the interrupt was never sent: the run did not reach its phase"


@pytest.mark.parametrize("phase, words, faults_applied", [
    ("up", "up", 0),                               # held until the hosts are all up, then down removes them
    ("setup", "capture start", 0),
    ("steps", "client: agent send", 1),            # not held: the step is cut, the drop before it reverted
    ("final heals", "server: iptables -D INPUT -p tcp --dport", 3),  # held: the other revert still runs
    ("capture", "capture stop", 3),                # held: every capture stops
    ("teardown", "down", 3),                       # held: down finishes
])
def test_ctrl_c_in_any_phase_heals_and_tears_down_once(ctrl_c, phase, words, faults_applied):
    backend = FakeBackend(on_agent=answers(BYTES), on_exec=ctrl_c(words))
    with pytest.raises(KeyboardInterrupt):
        run(backend)
    calls = backend.calls()
    assert calls.count("down") == 1 and calls[-1] == "down" and backend.deployments["r1"].torn_down
    assert sum(" -I " in line or " replace " in line for line in calls) == faults_applied
    assert_no_fault_left(calls)
    if phase == "capture":
        assert sorted(line for line in calls if line.endswith("capture stop")) == [
            "client: capture stop", "server: capture stop"]


# the agent's program dies, is killed, or hangs

DEATHS = scenario_text("""\
  - {host: server, call: listen, port: 7000}
  - {host: client, call: connect, to: server, port: 7000}
  - {id: broken, host: client, call: send, expect: SIGPIPE}
  - {id: again, host: client, call: connect, to: server, port: 7000}
  - {id: kill, host: client, fault: kill}
  - {host: client, call: connect, to: server, port: 7000}
  - {id: stuck, host: server, call: accept, timeout: 0.05, expect: TIMEOUT}
  - {id: never, host: server, call: close}
""")


def test_a_dead_agent_is_an_outcome_and_the_hosts_next_call_starts_a_new_one(monkeypatch):
    monkeypatch.setattr("lab.calls.GRACE", 0.05)  # how long past a call's deadline before it is hung
    backend = FakeBackend(on_agent=lambda call, cmd: 128 + signal.SIGPIPE if cmd["op"] == "send"
                          else None if cmd["op"] == "accept" else {})
    res = run(backend, DEATHS)
    broken, kill = observation(res, id="broken"), observation(res, id="kill")
    assert broken.outcome == "SIGPIPE" and broken.event["exit"] == 141
    pid = re.fullmatch(r"kill client: SIGKILL to pid (\d+), exit status 137", kill.event["fault"]).group(1)
    assert kill.outcome == "ok" and f"client: kill -s SIGKILL {pid}" in backend.calls()
    assert backend.calls(host="client").count("client: spawn agent --sigpipe=ignore") == 3
    stuck = observation(res, id="stuck")
    assert stuck.outcome == "TIMEOUT" and stuck.event["hung"]
    assert res.verdict.steps[-1].observed == "not run"  # nothing more can run on a hung agent
    assert [v.passed for v in res.verdict.steps] == [True] * 7 + [False]
    assert backend.calls()[-1] == "down"


def test_unowned_is_the_last_address_of_the_subnet_and_named_in_the_addresses():
    text = scenario_text("""\
  - {host: client, call: connect, to: unowned, port: 7000, expect: EHOSTUNREACH}
""").replace("packets:\n", "packets:\n  - {from: client, to: unowned, arp: request, min: 1, why: w}\n", 1)
    eth0 = "2: eth0    inet 10.99.1.3/24 brd 10.99.1.255 scope global eth0\\       valid_lft forever"
    backend = FakeBackend(on_agent=answers({"connect": {"errno": "EHOSTUNREACH"}}),
                          on_exec=fail_when("ip -4 -o addr", ExecResult(0, eth0)))
    res = run(backend, text)
    assert res.addresses["unowned"] == "10.99.1.254"
    sent = [line for entry in res.agent_logs["client"] if '"connect"' in (line := entry["line"])]
    assert '"addr": "10.99.1.254"' in sent[0]


def test_a_scenario_of_the_other_family_is_skipped_before_any_host_is_made():
    text = SCENARIO.replace("steps:\n", "family: {only: [6], why: w}\nsteps:\n", 1)
    backend = FakeBackend()
    res = runner.run(scenario(text), backend, run_id="r1", family="4")
    assert res.skipped.startswith("IPv4: this scenario is IPv6 only") and res.observations == []
    assert backend.calls() == []  # no up, so no down, no image check either
    assert res.env["backend"] == backend.name and not res.verdict.passed
