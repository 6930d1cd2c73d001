"""Faults on a host's agent process: the program dies, its kernel stays."""

from lab.faults.base import Fault, FaultRecord


class Kill(Fault):
    """Send a signal (SIGKILL by default) to the host's agent and wait for it to end.

    The process dies without running any code of its own; its kernel closes
    its sockets as exit does: FIN, or RST where received data was unread.
    """

    def __init__(self, signal="SIGKILL"):
        self.signal = signal

    def apply(self, host, agent):
        done = host.kill(agent.pid, self.signal)
        if not done.succeeded:
            return FaultRecord("kill", host.name, f"kill {self.signal} {agent.pid}: {done.stderr.strip()}", ok=False)
        rc = agent.wait_exit(timeout=5.0)
        return FaultRecord("kill", host.name, f"{self.signal} to pid {agent.pid}, exit status {rc}")
