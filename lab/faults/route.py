"""A narrower path: a host's route to a peer with a smaller MTU than the link's.

On a router (`router: true`) this is the next hop of a smaller MTU: a
forwarded packet too big for the route is not sent but answered, with ICMP
fragmentation-needed for an IPv4 packet with DF set (ip_forward() in
net/ipv4/ip_forward.c; TCP sets DF) and ICMPv6 packet-too-big for an IPv6
one (ip6_forward() in net/ipv6/ip6_output.c; IPv6 routers never fragment).
"""

from lab.faults.base import Fault, FaultRecord, command, undo
from lab.scenario.kinds import HOST, Arg

ROUTE_GONE = ("No such process",)  # what `ip route del` says of a route no longer there


class Mtu(Fault):
    """Give this host's route to `peer` a smaller MTU (`ip route add PEER dev eth0 mtu N`); heal to remove it."""
    kind = "mtu"
    caps = ("NET_ADMIN",)
    args = (Arg("peer", HOST, "The host whose route narrows.", required=True),
            Arg("mtu", {"type": "integer", "minimum": 576, "maximum": 1500},
                "The route's MTU in bytes (IPv6's minimum is 1280).", required=True))

    def __init__(self, peer, mtu):
        self.peer, self.mtu, self.route = peer, mtu, None

    def apply(self, ctx):
        peer = ctx.hosts[self.peer].address
        route = [f"{peer}/{32 if ctx.host.family == '4' else 128}", "dev", "eth0"]
        command(ctx.host, ["ip", "route", "add", *route, "mtu", str(self.mtu)])
        self.route = route
        return FaultRecord("mtu", ctx.host.name, f"route to {self.peer} ({peer}) with MTU {self.mtu}")

    def revert(self, ctx):
        route, self.route = self.route, None
        if route:
            undo(ctx.host, ["ip", "route", "del", *route], ROUTE_GONE)
