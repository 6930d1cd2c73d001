"""Faults on a host's agent process: the program dies or freezes, its kernel stays."""

from lab.faults.base import Fault, FaultRecord
from lab.scenario.kinds import Arg

TERMINATING = {"SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP"}


class Kill(Fault):
    """Send a signal (SIGKILL by default) to the host's agent.

    After SIGKILL the process dies without running any code of its own; its
    kernel closes its sockets as exit does: FIN, or RST where received data
    was unread. For a terminating signal we wait until the process is gone;
    SIGSTOP and SIGCONT return at once.
    """
    kind = "kill"
    args = (Arg("signal", {"type": "string", "pattern": "^SIG[A-Z0-9]+$"}, "The signal (default SIGKILL)."),)

    def __init__(self, signal="SIGKILL"):
        self.signal = signal

    def apply(self, ctx):
        host, agent = ctx.host, ctx.agent
        done = host.kill(agent.pid, self.signal)
        if not done.succeeded:
            return FaultRecord("kill", host.name, f"kill {self.signal} {agent.pid}: {done.stderr.strip()}", ok=False)
        if self.signal not in TERMINATING:
            return FaultRecord("kill", host.name, f"{self.signal} to pid {agent.pid}")
        rc = agent.wait_exit(timeout=5.0)
        return FaultRecord("kill", host.name, f"{self.signal} to pid {agent.pid}, exit status {rc}")
