"""Faults by name: `build(step)` makes the fault object a scenario step asks for.

`heal` is not a fault of its own: it reverts the fault of an earlier step.
"""

from lab.faults import host, iptables, process, tc

FAULTS = {
    "kill": process.Kill,
    "drop": iptables.Drop,
    "reject": iptables.Reject,
    "partition": iptables.Partition,
    "rate": tc.Rate,
    "netem": tc.Netem,
    "stop": host.Stop,
    "start": host.Start,
    "restart": host.Restart,
    "pause": host.Pause,
    "disconnect": host.Disconnect,
}


def build(step):
    args = dict(step.args)
    if "with" in args:
        args["reject_with"] = args.pop("with")
    return FAULTS[step.fault](**args)
