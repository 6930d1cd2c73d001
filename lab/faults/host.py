"""Faults on a whole host: it stops (vanishes from the network), restarts (same
address, every socket forgotten), freezes (paused: its programs stop, its kernel
still answers), is unplugged from the network and plugged back, or has its
link taken down and up again (the interface stays; no frame passes).

Stopping (and restarting) kills the host's programs first, and their kernel
closes their sockets as for any dying program: a FIN (or an RST over unread
data) goes out before the host is gone. A silent disappearance is
`disconnect` first, then stop or restart."""

import contextlib

from lab.errors import HostGone
from lab.faults.base import Fault, FaultRecord, command, undo, undo_all

DEVICE = "eth0"
UNPLUGGED = ('Cannot find device "eth0"',)  # what `ip` says once the interface itself is gone (disconnect)


class Stop(Fault):
    """Stop the host: its programs are killed (their kernel closes their sockets), then it is gone from the network."""
    kind = "stop"
    ends_processes = True

    def apply(self, ctx):
        ctx.host.stop()
        return FaultRecord("stop", ctx.host.name, "stopped: its programs killed (their sockets closed), then gone")


class Start(Fault):
    """Start a stopped host again, at the same address."""
    kind = "start"

    def apply(self, ctx):
        ctx.host.start()
        return FaultRecord("start", ctx.host.name, f"started again at {ctx.host.address}")


class Restart(Fault):
    """Stop the host and start it again at the same address: all its socket state is lost."""
    kind = "restart"
    ends_processes = True

    def apply(self, ctx):
        ctx.host.stop()
        ctx.host.start()
        return FaultRecord("restart", ctx.host.name, f"restarted at {ctx.host.address}: all socket state lost")


class Toggle(Fault):
    """A host state that heal (or the end of the run) switches back: apply calls the
    host's `on`, revert its `off`; a host stopped meanwhile has nothing to switch back."""
    on = off = done = ""

    def apply(self, ctx):
        getattr(ctx.host, self.on)()
        return FaultRecord(self.kind, ctx.host.name, self.done)

    def revert(self, ctx):
        with contextlib.suppress(HostGone):
            getattr(ctx.host, self.off)()


class Pause(Toggle):
    """Freeze the host's programs; its kernel still answers. Heal to thaw them."""
    kind, on, off, done = "pause", "pause", "unpause", "processes frozen; the kernel still answers"


class Disconnect(Toggle):
    """Unplug the host from the lab network; heal to plug it back."""
    kind, on, off, done = "disconnect", "disconnect", "reconnect", "unplugged from the lab network"


class Link(Fault):
    """Take the host's link down (`ip link set eth0 down`), as a pulled cable would; heal to bring it up.

    The host keeps its address, its programs and their sockets; nothing it
    sends leaves and nothing reaches it. The kernel drops the routes through
    a link that goes down, so revert puts back every route it had.
    """
    kind = "link"
    caps = ("NET_ADMIN",)

    def __init__(self):
        self.routes = None  # `ip -4 -o route show dev eth0` (-6 in an IPv6 run) before the link went down

    def apply(self, ctx):
        self.routes = command(ctx.host, ["ip", f"-{ctx.host.family}", "-o", "route", "show", "dev", DEVICE]
                              ).stdout.splitlines()
        command(ctx.host, ["ip", "link", "set", "dev", DEVICE, "down"])
        return FaultRecord("link", ctx.host.name, f"{DEVICE} down")

    def revert(self, ctx):
        routes, self.routes = self.routes, None
        if routes is None:
            return
        undo(ctx.host, ["ip", "link", "set", "dev", DEVICE, "up"], UNPLUGGED)
        undo_all(lambda route=route: undo(ctx.host, ["ip", f"-{ctx.host.family}", "route", "replace", *route.split(),
                                                     "dev", DEVICE], UNPLUGGED)
                 for route in routes if route.strip())
