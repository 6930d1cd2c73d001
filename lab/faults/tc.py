"""Traffic control on a host's own egress: rate limit with tbf; delay and loss with netem.

netem is not in every kernel (the probe says so before the run, and the
scenario is skipped naming it). revert deletes the root qdisc this fault
added, restoring the interface's default.
"""

from lab.faults.base import Fault, FaultRecord, command, undo, undo_all
from lab.scenario.kinds import DURATION, Arg

DEVICE = "eth0"
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


class Rate(Qdisc):
    """Limit the host's sending rate with a token bucket (tbf)."""
    kind = "rate"
    args = (Arg("rate", {"type": "string", "pattern": "^[0-9]+(bit|kbit|mbit|gbit|bps|kbps|mbps)$"},
                "The rate, e.g. 1mbit.", required=True),
            Arg("burst", {"type": "string", "pattern": "^[0-9]+(b|kb|mb|k|m)?$"}, "Bucket size (default 16kb)."),
            Arg("latency", DURATION, "Longest a packet may wait in the bucket (default 200ms)."))

    def __init__(self, rate, burst="16kb", latency="200ms"):
        super().__init__()
        self.rate, self.burst, self.latency = rate, burst, latency

    def apply(self, ctx):
        detail = self.qdisc(ctx, ["tbf", "rate", self.rate, "burst", self.burst, "latency", self.latency])
        return FaultRecord("rate", ctx.host.name, detail)


class Netem(Qdisc):
    """Delay or lose the host's outgoing packets with netem."""
    kind = "netem"
    args = (Arg("delay", DURATION, "Delay every packet this long."),
            Arg("loss", {"type": "string", "pattern": "^[0-9.]+%$"}, "Lose this share of packets, e.g. 5%."))
    requires = ("netem",)

    def __init__(self, delay=None, loss=None):
        super().__init__()
        self.delay, self.loss = delay, loss

    def apply(self, ctx):
        args = ["netem"] + (["delay", self.delay] if self.delay else []) + (["loss", self.loss] if self.loss else [])
        return FaultRecord("netem", ctx.host.name, self.qdisc(ctx, args))
