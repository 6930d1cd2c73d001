"""Traffic control on a host's own egress: rate limit with tbf; delay and loss with netem.

netem is not in every kernel (the probe says so before the run, and the
scenario is skipped naming it). revert deletes the root qdisc this fault
added, restoring the interface's default; a child qdisc goes with its root.
"""

from lab.faults.base import Fault, FaultRecord, command, undo, undo_all
from lab.scenario.kinds import DURATION, Arg

DEVICE = "eth0"
LOSS = {"type": "string", "pattern": "^[0-9.]+%$"}
# what `tc qdisc del` says when the root is the default again, or eth0 is unplugged
QDISC_GONE = ("Cannot delete qdisc with handle of zero", "Cannot find device")


class Qdisc(Fault):
    caps = ("NET_ADMIN",)

    def __init__(self):
        self.hosts = []

    def qdisc(self, ctx, kind_args):
        command(ctx.host, ["tc", "qdisc", "replace", "dev", DEVICE, "root", *kind_args])
        self.hosts.append(ctx.host)
        return " ".join(kind_args)

    def revert(self, ctx):
        hosts, self.hosts = self.hosts[::-1], []
        undo_all(lambda host=host: undo(host, ["tc", "qdisc", "del", "dev", DEVICE, "root"], QDISC_GONE)
                 for host in hosts)


def netem_args(delay, loss):
    """netem's arguments for a delay and a loss (either may be None)."""
    return ["netem"] + (["delay", delay] if delay else []) + (["loss", loss] if loss else [])


class Rate(Qdisc):
    """Limit the host's sending rate with a token bucket (tbf); with delay or loss, netem as tbf's child.

    tbf sits at the root (handle 1:) and netem, when asked for, in its one
    class (parent 1:1): tbf_enqueue() cuts a GSO block larger than the
    bucket into segments (tbf_segment()) and hands each to netem.
    """
    kind = "rate"
    args = (Arg("rate", {"type": "string", "pattern": "^[0-9]+(bit|kbit|mbit|gbit|bps|kbps|mbps)$"},
                "The rate, e.g. 1mbit.", required=True),
            Arg("burst", {"type": "string", "pattern": "^[0-9]+(b|kb|mb|k|m)?$"}, "Bucket size (default 16kb)."),
            Arg("latency", DURATION, "Longest a packet may wait in the bucket (default 200ms)."),
            Arg("delay", DURATION, "Also delay every packet this long: netem as tbf's child, after tbf's cut."),
            Arg("loss", LOSS, "Also lose this share of packets, e.g. 5%: netem as tbf's child, after tbf's cut."))

    def __init__(self, rate, burst="16kb", latency="200ms", delay=None, loss=None):
        super().__init__()
        self.rate, self.burst, self.latency = rate, burst, latency
        self.child = netem_args(delay, loss) if delay or loss else None
        self.requires = ("netem",) if self.child else ()

    def apply(self, ctx):
        tbf = ["tbf", "rate", self.rate, "burst", self.burst, "latency", self.latency]
        detail = self.qdisc(ctx, ["handle", "1:", *tbf] if self.child else tbf)
        if self.child:
            command(ctx.host, ["tc", "qdisc", "add", "dev", DEVICE, "parent", "1:1", "handle", "10:", *self.child])
            detail += f"; {' '.join(self.child)} as its child (parent 1:1)"
        return FaultRecord("rate", ctx.host.name, detail)


class Netem(Qdisc):
    """Delay or lose the host's outgoing packets with netem."""
    kind = "netem"
    args = (Arg("delay", DURATION, "Delay every packet this long."),
            Arg("loss", LOSS, "Lose this share of packets, e.g. 5%."))
    requires = ("netem",)

    def __init__(self, delay=None, loss=None):
        super().__init__()
        self.delay, self.loss = delay, loss

    def apply(self, ctx):
        return FaultRecord("netem", ctx.host.name, self.qdisc(ctx, netem_args(self.delay, self.loss)))
