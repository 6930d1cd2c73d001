"""What a scenario asks of a backend: its hosts (with the capabilities their faults need and
their runtimes), the routes through its router, and the address no host owns."""

import ipaddress
import time

from lab import faults
from lab.backends.base import HostSpec, Topology
from lab.errors import SetupError
from lab.record import alias
from lab.scenario.kinds import UNOWNED


def topology(scenario, run_id, family="4"):
    caps = {name: set() for name in scenario.hosts}
    for step in scenario.steps:
        if step.fault and step.fault != "heal":
            fault = faults.FAULTS[step.fault]
            for name in fault.hosts_touched(step):
                caps[name] |= set(fault.caps)
    for name, opts in scenario.hosts.items():
        if opts.via:
            caps[name].add("NET_ADMIN")  # to add its routes through the router
    return Topology(run_id=run_id, family=family, hosts=tuple(
        HostSpec(name, tuple(sorted(caps[name])), opts.capture, opts.router, opts.via is not None, opts.runtime)
        for name, opts in scenario.hosts.items()
    ))


def route_through_routers(scenario, hosts):
    """Each host with `via` reaches every other non-router host through its router; in an IPv6
    run once the router's link-local address is no longer tentative."""
    for name, opts in scenario.hosts.items():
        if not opts.via:
            continue
        for other, other_opts in scenario.hosts.items():
            if other != name and not other_opts.router:
                done = hosts[name].exec(["ip", "route", "add", f"{ipaddress.ip_network(hosts[other].address)}",
                                         "via", hosts[opts.via].address])
                if not done.succeeded:
                    raise SetupError(f"cannot route {name} to {other} via {opts.via}: {done.stderr.strip()}")
        if hosts[opts.via].family == "6":
            link_local_settled(hosts[opts.via])


def link_local_settled(router, timeout=3.0):
    """Wait until the router's eth0 has no tentative address: its neighbour solicitations for the
    packets it forwards come from its link-local address, and ndisc_send_ns() (net/ipv6/ndisc.c)
    sends none while that is tentative (measured on Docker, whose eth0 begins duplicate address
    detection before the run's settings apply: a forwarded SYN held 1-2 s)."""
    deadline = time.monotonic() + timeout
    while (done := router.exec(["ip", "-6", "-o", "addr", "show", "dev", "eth0", "tentative"])).stdout.strip():
        if time.monotonic() > deadline:
            raise SetupError(f"{router.name}'s link-local address still tentative after {timeout} s: {done.stdout}")
        time.sleep(0.05)


def unowned(scenario, hosts):
    """{unowned: the last address of the run's subnet in its family} when the scenario names it:
    no host owns it (nothing answers its ARP or neighbour solicitation), and traffic to it never
    leaves the lab's network."""
    if not any(s.args.get("to") == UNOWNED for s in scenario.steps) and \
            not any(UNOWNED in (r.src, r.dst) for r in scenario.packets):
        return {}
    host = next(iter(hosts.values()))
    done = host.exec(["ip", f"-{host.family}", "-o", "addr", "show", "dev", "eth0", "scope", "global"])
    words = done.stdout.split()
    address = str(ipaddress.ip_interface(words[3]).network[-2]) if done.succeeded and len(words) > 3 else None
    if address is None or address in {h.address for h in hosts.values()}:
        raise SetupError(f"no unowned address in {host.name}'s subnet: {done.stdout.strip() or done.stderr.strip()}")
    return {UNOWNED: address}


def dual_stack(scenario):
    """Does the scenario use a host's address of the other family (connect's `family` or `by: name`,
    drop's `family`, a packet rule's `family`)?"""
    return any("family" in s.args and s.call != "listen" or s.args.get("by") == "name" for s in scenario.steps) \
        or any(r.family for r in scenario.packets)


def run_addresses(scenario, hosts, others):
    """{host: its address in the run's family, unowned: its address}, and where the scenario is
    dual-stack each host's address in the other family too, under its alias (`server/ipv4`)."""
    addresses = {**{name: host.address for name, host in hosts.items()}, **others}
    if dual_stack(scenario):
        addresses.update({alias(name, family): address for name, host in hosts.items()
                          for family, address in host.addresses.items() if family != host.family})
    return addresses
