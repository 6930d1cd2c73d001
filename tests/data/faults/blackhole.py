"""A fault kind that is not in the lab, written as one would add one to lab/faults/:
this file is all of it. tests/test_kinds.py registers it and shows that the loader
and the generated schema know it at once, and agree on what it takes.

A route on this host that swallows (or refuses) what it sends to `peer`: the peer
is gone as far as this host can tell, and reachable again on revert.
"""

from lab.faults.base import Fault, FaultRecord, undo, undo_all
from lab.scenario.kinds import HOST, Arg

ROUTE_GONE = ("No such process",)  # what `ip route del` says of a route no longer there


class Blackhole(Fault):
    """Route what this host sends to `peer` nowhere: silently, or with a local error."""
    kind = "blackhole"
    args = (Arg("peer", HOST, "The host whose packets vanish.", required=True),
            Arg("route", {"enum": ["blackhole", "unreachable", "prohibit"]},
                "blackhole (default): silently; unreachable: EHOSTUNREACH to the sender; prohibit: EACCES."))
    caps = ("NET_ADMIN",)

    def __init__(self, peer, route="blackhole"):
        self.peer, self.route, self.added = peer, route, []

    def apply(self, ctx):
        route = [self.route, f"{ctx.hosts[self.peer].address}/32"]
        done = ctx.host.exec(["ip", "route", "add", *route])
        if done.succeeded:
            self.added.append(route)
        return FaultRecord("blackhole", ctx.host.name, " ".join(route), ok=done.succeeded)

    def revert(self, ctx):
        added, self.added = self.added[::-1], []
        undo_all(lambda route=route: undo(ctx.host, ["ip", "route", "del", *route], ROUTE_GONE) for route in added)
