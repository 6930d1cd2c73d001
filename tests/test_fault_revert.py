"""A revert tolerates exactly "already gone" (the answers recorded below, from the
host image's iptables 1.8.9 (nf_tables) and iproute2), and a failed one stops none
of the others. No Docker: a host that answers from a script."""

import pytest

from lab.backends.base import ExecResult
from lab.errors import FaultError, HostGone
from lab.faults.base import FaultContext
from lab.faults.host import Link
from lab.faults.iptables import Drop, Partition
from lab.faults.tc import Rate

RULE_GONE = "iptables: Bad rule (does a matching rule exist in that chain?).\n"   # rc 1
QDISC_DEFAULT = "Error: Cannot delete qdisc with handle of zero.\n"               # rc 2
NO_ETH0 = 'Cannot find device "eth0"\n'                                           # rc 1


class ScriptedHost:
    """Answers each command by its first word and verb; remembers what it was asked."""

    def __init__(self, name, answers=None, gone=False):
        self.name, self.address, self.router, self.family = name, f"10.0.0.{len(name)}", False, "4"
        self.answers, self.gone, self.asked = answers or {}, gone, []

    def exec(self, argv):
        if self.gone:
            raise HostGone(f"{self.name} is stopped")
        self.asked.append(argv)
        return self.answers.get((argv[0], argv[1]), ExecResult(0, ""))


def applied(fault, host, hosts=None):
    ctx = FaultContext(host=host, agent=None, hosts=hosts or {host.name: host}, tag="tfl-test")
    fault.apply(ctx)
    return ctx


def test_a_rule_already_gone_is_fine():
    host = ScriptedHost("server")
    fault = Drop()
    ctx = applied(fault, host)
    host.answers[("iptables", "-D")] = ExecResult(1, "", RULE_GONE)
    fault.revert(ctx)
    assert host.asked[-1][:2] == ["iptables", "-D"]


def test_any_other_answer_is_a_fault_error():
    host = ScriptedHost("server")
    fault = Drop()
    ctx = applied(fault, host)
    host.answers[("iptables", "-D")] = ExecResult(2, "", "iptables v1.8.9 (nf_tables): unknown option\n")
    with pytest.raises(FaultError, match="unknown option"):
        fault.revert(ctx)


@pytest.mark.parametrize("stderr", [QDISC_DEFAULT, NO_ETH0], ids=["default-qdisc", "unplugged"])
def test_a_qdisc_already_gone_is_fine(stderr):
    host = ScriptedHost("client")
    fault = Rate(rate="1mbit")
    ctx = applied(fault, host)
    host.answers[("tc", "qdisc")] = ExecResult(2, "", stderr)
    fault.revert(ctx)


def test_a_stopped_host_took_its_rules_with_it():
    host = ScriptedHost("server")
    fault = Drop()
    ctx = applied(fault, host)
    host.gone = True
    fault.revert(ctx)


def test_a_failed_revert_is_named_and_the_other_host_is_still_reverted():
    a, b = ScriptedHost("a"), ScriptedHost("bb")
    fault = Partition(peer="bb")
    ctx = applied(fault, a, {"a": a, "bb": b})
    a.answers[("iptables", "-D")] = ExecResult(4, "", "iptables: Resource temporarily unavailable.\n")
    with pytest.raises(FaultError, match=r"on a: iptables: Resource temporarily unavailable"):
        fault.revert(ctx)
    assert b.asked[-1][:2] == ["iptables", "-D"], "the rule on the other host was still deleted"
    fault.revert(ctx)  # safe twice: nothing is left to undo, nothing is asked again
    assert sum(argv[:2] == ["iptables", "-D"] for argv in a.asked + b.asked) == 2


def test_link_revert_brings_the_link_up_and_puts_back_the_routes_it_had():
    host = ScriptedHost("server", {("ip", "-4"): ExecResult(0, "10.0.0.0/24 proto kernel scope link src 10.0.0.6\n"
                                                              "10.0.0.2 via 10.0.0.3\n")})
    fault = Link()
    ctx = applied(fault, host)
    assert host.asked[-1] == ["ip", "link", "set", "dev", "eth0", "down"]
    fault.revert(ctx)
    assert host.asked[-3:] == [["ip", "link", "set", "dev", "eth0", "up"],
                               ["ip", "-4", "route", "replace", "10.0.0.0/24", "proto", "kernel", "scope", "link",
                                "src", "10.0.0.6", "dev", "eth0"],
                               ["ip", "-4", "route", "replace", "10.0.0.2", "via", "10.0.0.3", "dev", "eth0"]]
    fault.revert(ctx)  # safe twice: nothing is asked again
    assert len(host.asked) == 5


def test_link_revert_on_an_unplugged_host_is_fine():
    host = ScriptedHost("server", {("ip", "-4"): ExecResult(0, "10.0.0.0/24 proto kernel scope link\n")})
    fault = Link()
    ctx = applied(fault, host)
    host.answers[("ip", "link")] = host.answers[("ip", "route")] = ExecResult(1, "", NO_ETH0)
    fault.revert(ctx)


def test_rate_with_loss_puts_netem_under_tbf_and_its_revert_deletes_only_the_root():
    host = ScriptedHost("client")
    fault = Rate(rate="100mbit", burst="1550b", loss="25%")
    ctx = applied(fault, host)
    assert host.asked == [
        ["tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "tbf", "rate", "100mbit", "burst", "1550b",
         "latency", "200ms"],
        ["tc", "qdisc", "add", "dev", "eth0", "parent", "1:1", "handle", "10:", "netem", "loss", "25%"]]
    fault.revert(ctx)
    assert host.asked[-1] == ["tc", "qdisc", "del", "dev", "eth0", "root"]   # the child goes with its root
    assert len(host.asked) == 3


def test_rate_needs_netem_only_with_delay_or_loss():
    from lab.probes import required
    from lab.scenario.load import load_text
    text = ("name: r\nsummary: s\nstory: t\nhosts:\n  client:\n  server:\nsteps:\n"
            "  - {host: client, fault: rate, rate: 8mbit}\n  - {host: server, fault: rate, rate: 8mbit, delay: 20ms}\n"
            "packets:\n  - {why: w}\n")
    assert Rate(rate="8mbit").requires == () and Rate(rate="8mbit", loss="1%").requires == ("netem",)
    assert required(load_text(text, "r.yaml")) == [("server", "netem")]
