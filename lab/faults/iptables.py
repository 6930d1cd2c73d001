"""Firewall faults inside a host's own network namespace: DROP, REJECT, random loss, partition.

Every rule sits on the receiving host's INPUT chain (a router's FORWARD
chain: the firewall in the path), where a firewall or a lossy link would
meet the packet. A drop in the sender's own OUTPUT chain is not loss but a
local transmit error to TCP: nothing reaches the wire, and the data stays
unsent rather than retransmitted (scenarios/output-drop.yaml shows it; a
`drop` with `chain: OUTPUT` is there for that). Each rule carries a comment
with the run and step, and revert deletes exactly the rules apply added.
"""

from lab.faults.base import Fault, FaultRecord, command, undo, undo_all
from lab.scenario.kinds import BOOL, HOST, PORT, Arg

# what REJECT can answer with, per family (iptables-extensions(8)); tcp-reset is both
REJECT_WITH = {"4": ("icmp-port-unreachable", "icmp-host-unreachable", "icmp-net-unreachable",
                     "icmp-admin-prohibited"),
               "6": ("icmp6-no-route", "icmp6-adm-prohibited", "icmp6-addr-unreachable",
                     "icmp6-port-unreachable", "icmp6-policy-fail", "icmp6-reject-route")}
MATCH = (Arg("peer", HOST, "Only traffic from this host."), Arg("port", PORT, "Only traffic to this port."),
         Arg("syn", BOOL, "Only connection-opening SYNs."))
RULE_GONE = ("does a matching rule exist",)  # what `iptables -D` says of a rule no longer there


def iptables(family):
    """The firewall command of an address family."""
    return "ip6tables" if family == "6" else "iptables"


def match(peer_address=None, port=None, syn=False, outgoing=False):
    """What a rule matches: TCP from the peer (to it, on OUTPUT), to the peer's `port` on OUTPUT, else ours."""
    argv = ["-p", "tcp"]
    if peer_address:
        argv += ["-d" if outgoing else "-s", peer_address]
    if port:
        argv += ["--dport", str(port)]
    if syn:
        argv += ["--syn"]
    return argv


class Rules(Fault):
    """Base for faults that insert iptables rules and delete exactly them on revert."""
    caps = ("NET_ADMIN",)

    def __init__(self):
        self.added = []  # (host, iptables or ip6tables, chain, rule argv after the chain name)

    def insert(self, ctx, host, rule, chain=None, family=None):
        """Insert a rule in the firewall of `family` (the run's by default)."""
        chain, command_name = chain or ("FORWARD" if host.router else "INPUT"), iptables(family or host.family)
        rule = rule + ["-m", "comment", "--comment", ctx.tag]
        command(host, [command_name, "-I", chain, "1", *rule])
        self.added.append((host, command_name, chain, rule))
        return f"{chain} " + " ".join(rule[:-4])

    def revert(self, ctx):
        added, self.added = self.added[::-1], []
        undo_all(lambda host=host, name=name, chain=chain, rule=rule: undo(host, [name, "-D", chain, *rule], RULE_GONE)
                 for host, name, chain, rule in added)


class Drop(Rules):
    """Drop TCP arriving at this host (optionally only from `peer`, to `port`, SYNs, or a share).

    With `chain: OUTPUT` it drops what this host sends instead (to `peer`, to
    its `port`): not loss on the wire but a local error, which the sender's
    own TCP sees (the drop-in-the-sender case, for showing it)."""
    kind = "drop"
    args = (*MATCH, Arg("probability", {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                        "Drop this share of matching packets (iptables statistic)."),
            Arg("chain", {"enum": ["INPUT", "OUTPUT"]}, "INPUT (default; FORWARD on a router): what arrives; "
                                                       "OUTPUT: what this host sends, to `peer` and its `port`."),
            Arg("family", {"enum": [4, 6]}, "Only this family's packets: 4 in an IPv6 run (whose hosts have both "
                                            "addresses) drops IPv4 alone; default: the run's family."))

    def __init__(self, peer=None, port=None, syn=False, probability=None, chain="INPUT", family=None):
        super().__init__()
        self.peer, self.port, self.syn, self.probability, self.chain = peer, port, syn, probability, chain
        self.family = None if family is None else str(family)

    def apply(self, ctx):
        family = self.family or ctx.host.family
        peer = ctx.hosts[self.peer].addresses.get(family) if self.peer else None
        outgoing = self.chain == "OUTPUT"
        rule = match(peer, self.port, self.syn, outgoing)
        if self.probability is not None:
            rule += ["-m", "statistic", "--mode", "random", "--probability", str(self.probability)]
        placed = self.insert(ctx, ctx.host, rule + ["-j", "DROP"], "OUTPUT" if outgoing else None, family)
        return FaultRecord("drop", ctx.host.name, placed)


class Reject(Rules):
    """Reject TCP arriving at this host with a RST or an ICMP error, as a firewall would."""
    kind = "reject"
    args = (Arg("with", {"enum": ["tcp-reset", *REJECT_WITH["4"], *REJECT_WITH["6"]]},
                "What to answer with (default tcp-reset, in both families); an icmp- kind is IPv4's, "
                "an icmp6- kind IPv6's.", param="reject_with"), *MATCH)
    only_in = tuple(("with", kinds, family) for family, kinds in REJECT_WITH.items())

    def __init__(self, reject_with="tcp-reset", peer=None, port=None, syn=False):
        super().__init__()
        self.reject_with, self.peer, self.port, self.syn = reject_with, peer, port, syn

    def apply(self, ctx):
        peer = ctx.hosts[self.peer].address if self.peer else None
        rule = match(peer, self.port, self.syn) + ["-j", "REJECT", "--reject-with", self.reject_with]
        return FaultRecord("reject", ctx.host.name, self.insert(ctx, ctx.host, rule))


class Partition(Rules):
    """Cut this host and `peer` apart: each drops on input what the other sends."""
    kind = "partition"
    args = (Arg("peer", HOST, "The other side.", required=True),)

    def __init__(self, peer):
        super().__init__()
        self.peer = peer

    @staticmethod
    def hosts_touched(step):
        return [step.host, step.args["peer"]]

    def apply(self, ctx):
        a, b = ctx.host, ctx.hosts[self.peer]
        self.insert(ctx, a, ["-s", b.address, "-j", "DROP"])
        self.insert(ctx, b, ["-s", a.address, "-j", "DROP"])
        return FaultRecord("partition", a.name, f"{a.name} and {b.name} drop what the other sends")


class BlockTooBig(Rules):
    """Drop arriving ICMP fragmentation-needed (IPv4) or ICMPv6 packet-too-big (IPv6), as a firewall
    that drops all ICMP does: path MTU discovery's black hole. Heal to let them through."""
    kind = "block-too-big"

    def apply(self, ctx):
        too_big = (["-p", "icmpv6", "--icmpv6-type", "packet-too-big"] if ctx.host.family == "6"
                   else ["-p", "icmp", "--icmp-type", "fragmentation-needed"])
        return FaultRecord("block-too-big", ctx.host.name, self.insert(ctx, ctx.host, too_big + ["-j", "DROP"]))
