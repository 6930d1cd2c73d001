"""Traffic control on a host's own egress: rate limit with tbf; delay and loss with netem.

netem is not in every kernel (the probe says so before the run, and the
scenario is skipped naming it). revert deletes the root qdisc this fault
added, restoring the interface's default.
"""

from lab.faults.base import Fault, FaultRecord

DEVICE = "eth0"


class Qdisc(Fault):
    caps = ("NET_ADMIN",)

    def __init__(self):
        self.hosts = []

    def qdisc(self, ctx, kind_args):
        done = ctx.host.exec(["tc", "qdisc", "replace", "dev", DEVICE, "root", *kind_args])
        if not done.succeeded:
            raise RuntimeError(f"tc on {ctx.host.name}: {done.stderr.strip()}")
        self.hosts.append(ctx.host)
        return " ".join(kind_args)

    def revert(self, ctx):
        while self.hosts:
            self.hosts.pop().exec(["tc", "qdisc", "del", "dev", DEVICE, "root"])


class Rate(Qdisc):
    """Limit the host's sending rate with a token bucket (tbf)."""

    def __init__(self, rate, burst="16kb", latency="200ms"):
        super().__init__()
        self.rate, self.burst, self.latency = rate, burst, latency

    def apply(self, ctx):
        detail = self.qdisc(ctx, ["tbf", "rate", self.rate, "burst", self.burst, "latency", self.latency])
        return FaultRecord("rate", ctx.host.name, detail)


class Netem(Qdisc):
    """Delay or lose the host's outgoing packets with netem."""
    requires = ("netem",)

    def __init__(self, delay=None, loss=None):
        super().__init__()
        self.delay, self.loss = delay, loss

    def apply(self, ctx):
        args = ["netem"] + (["delay", self.delay] if self.delay else []) + (["loss", self.loss] if self.loss else [])
        return FaultRecord("netem", ctx.host.name, self.qdisc(ctx, args))
