"""What both backends take from compose.yaml and the scenario: the host and capture
templates, and the kernel settings of routers and the hosts routed through them."""

from pathlib import Path

import yaml

from lab.errors import SetupError

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"
# compose keys the lab knows how to pass on; any other is refused rather than ignored
COMPOSE_KEYS = {"image", "command", "init", "cap_drop", "cap_add", "security_opt", "labels", "read_only", "tmpfs"}


def compose_templates(path=COMPOSE):
    """The `x-host` and `x-capture` service templates and the `lab` network."""
    spec = yaml.safe_load(path.read_text())
    for key in ("x-host", "x-capture"):
        unknown = set(spec[key]) - COMPOSE_KEYS
        if unknown:
            raise SetupError(f"{path}: {key} uses {sorted(unknown)}; the lab passes on only {sorted(COMPOSE_KEYS)}")
    return spec["x-host"], spec["x-capture"], spec["networks"]["lab"]


SCOPES = ("all", "default", "eth0")  # eth0 exists before "default" is applied


def sysctls(spec, family="4"):
    """Kernel settings of a router and of the hosts routed through it, and in an IPv6 run
    IPv6's (set at creation: /proc/sys is read-only inside a container)."""
    values = {}
    if spec.router:
        values["net.ipv4.ip_forward"] = "1"
    if spec.router or spec.routed:
        # redirects would tell the hosts to bypass the router on their shared network
        for scope in SCOPES:
            values[f"net.ipv4.conf.{scope}.send_redirects"] = "0"
            values[f"net.ipv4.conf.{scope}.accept_redirects"] = "0"
    if family == "6":
        values.update(ipv6_sysctls(spec))
    return values


def ipv6_sysctls(spec):
    """IPv6 on, with fixed addresses only: no duplicate address detection on the lab's
    addresses (usable at once instead of about 1 s later), no router advertisements or
    autoconfiguration, and addresses kept while a link is down (as IPv4 keeps them; IPv6
    would drop them, and a link fault would end with none). On netns no router
    solicitation either; a container's eth0 keeps its own (below). IPv6 has no
    send_redirects: a router's redirects are ignored by the hosts routed through it."""
    values = {}
    # Not eth0's own but for redirects (a host started again after a disconnect has no eth0 when
    # they are applied): "all" covers disable_ipv6 and keep_addr_on_down; the rest leave a
    # container's eth0 its link-local DAD (begun before any setting applies) and a router
    # solicitation, noise the pcap parser drops (its lab address has no DAD: the engine adds it
    # with nodad, as netns does). A router waits for its link-local (topology.py).
    for scope in ("all", "default"):
        values.update({f"net.ipv6.conf.{scope}.disable_ipv6": "0", f"net.ipv6.conf.{scope}.accept_dad": "0",
                       f"net.ipv6.conf.{scope}.accept_ra": "0", f"net.ipv6.conf.{scope}.autoconf": "0",
                       f"net.ipv6.conf.{scope}.router_solicitations": "0",
                       f"net.ipv6.conf.{scope}.keep_addr_on_down": "1"})
    for scope in SCOPES:
        if spec.router or spec.routed:
            values[f"net.ipv6.conf.{scope}.accept_redirects"] = "0"
    if spec.router:
        values["net.ipv6.conf.all.forwarding"] = "1"
    return values
