"""Does this kernel have what a scenario's faults need? Asked inside a lab host.

A feature is probed by doing the smallest real thing that needs it (and
undoing it) in the host that will use it, since that is the kernel (and
the namespace) the fault will meet. A missing feature makes the run
SKIPPED with the feature named, never passed.
"""

from lab import faults

PROBES = {  # feature -> (what it is, argv that needs it, argv that undoes it)
    "netem": ("sch_netem (tc delay/loss)",
              ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
              ["tc", "qdisc", "del", "dev", "lo", "root"]),
}


def required(scenario):
    """[(host name, feature)] the scenario's faults need."""
    needs = []
    for step in scenario.steps:
        if step.fault and step.fault != "heal":
            needs += [(step.host, feature) for feature in faults.build(step).requires]  # its arguments may decide
    return sorted(set(needs))


def check(host, feature):
    """None if the host's kernel has the feature, else why not (one line)."""
    what, probe, undo = PROBES[feature]
    done = host.exec(probe)
    if done.succeeded:
        host.exec(undo)
        return None
    return f"{what} is missing on this kernel ({done.stderr.strip() or done.stdout.strip()})"


def missing(scenario, hosts):
    """A one-line reason naming every missing feature, or None when all are there."""
    absent = [reason for host_name, feature in required(scenario) if (reason := check(hosts[host_name], feature))]
    return "; ".join(absent) or None
