"""Faults on a whole host: it stops (vanishes from the network), restarts (same
address, every socket forgotten), freezes (paused: its programs stop, its kernel
still answers), or is unplugged from the network and plugged back.

Stopping (and restarting) kills the host's programs first, and their kernel
closes their sockets as for any dying program: a FIN (or an RST over unread
data) goes out before the host is gone. A silent disappearance is
`disconnect` first, then stop or restart."""

import contextlib

from lab.errors import HostGone
from lab.faults.base import Fault, FaultRecord


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
