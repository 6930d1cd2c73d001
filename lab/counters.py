"""The kernel's own TCP/IP counters in a host, as `nstat` reads them: before the steps and after.

/proc/net/netstat and /proc/net/snmp hold pairs of lines per group, the
names and then the values (`TcpExt: ... ListenOverflows ...`). Each
network namespace counts on its own, so a host's counters are its
kernel's alone; a host restarted during the run (a new namespace) starts
again from zero, so its counters are read but say nothing of the run.
Packet rules with `counter:` judge the difference (lab/verdict.py).

    >>> parse("TcpExt: SyncookiesSent ListenOverflows\\nTcpExt: 0 3\\nTcp: RtoAlgorithm RetransSegs\\nTcp: 1 7\\n")
    {'TcpExt.SyncookiesSent': 0, 'TcpExt.ListenOverflows': 3, 'Tcp.RtoAlgorithm': 1, 'Tcp.RetransSegs': 7}
    >>> delta({"TcpExt.ListenOverflows": 3}, {"TcpExt.ListenOverflows": 5}, "ListenOverflows")
    2
"""

from lab.errors import HostGone

FILES = ("/proc/net/netstat", "/proc/net/snmp")


def parse(text):
    """{"Group.Name": value} from the name and value line pairs of netstat/snmp."""
    counters = {}
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for names, values in zip(lines[::2], lines[1::2]):
        if names[0] != values[0]:
            continue  # not a pair: a file this kernel writes otherwise
        group = names[0].rstrip(":")
        counters.update({f"{group}.{n}": int(v) for n, v in zip(names[1:], values[1:]) if v.lstrip("-").isdigit()})
    return counters


def hosts_of(scenario):
    """The hosts whose counters the scenario's rules read."""
    return {rule.at for rule in scenario.packets if rule.counter}


def read(hosts, names):
    """{host: its counters now} for the named hosts; a host stopped now has none."""
    found = {}
    for name in sorted(names):
        try:
            done = hosts[name].exec(["cat", *FILES])
        except HostGone:
            continue
        if done.succeeded:
            found[name] = parse(done.stdout)
    return found


def delta(before, after, counter):
    """after - before of a counter named in full ("TcpExt.ListenOverflows") or by its name alone;
    None where either reading lacks it."""
    def value(reading):
        keys = [k for k in reading if k == counter or k.split(".", 1)[1] == counter]
        return reading[keys[0]] if len(keys) == 1 else None
    first, last = value(before or {}), value(after or {})
    return None if first is None or last is None else last - first
