"""What a run must leave as it found it on the machine itself, in both address families:
its links, addresses, routes, firewalls, and the sysctls that would let traffic out
(forwarding) or let the machine take a route from a lab host (router advertisements).

    >>> len(READINGS) >= 6 and ["ip6tables-save"] in READINGS
    True
"""

import subprocess

SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.default.forwarding",
           "net.ipv6.conf.all.accept_ra", "net.ipv6.conf.default.accept_ra",
           "net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6")
READINGS = (["ip", "-o", "link"], ["ip", "-o", "addr"], ["ip", "route"], ["ip", "-6", "route"],
            ["iptables-save"], ["ip6tables-save"], ["sysctl", *SYSCTLS])


def lines():
    """Every line of every reading, comments left out (iptables-save stamps its dumps)."""
    found = []
    for argv in READINGS:
        out = subprocess.run(argv, capture_output=True, text=True).stdout
        found += [line for line in out.splitlines() if not line.startswith("#")]
    return found
