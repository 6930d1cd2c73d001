"""Drive a host's agent (any runtime's: lab/agents/PROTOCOL.md) and turn each reply into an outcome.

An Agent is one agent process in one host: it sends a command line, reads the
reply line, and keeps every line both ways for the run's raw event log. When
the process dies in the middle of a call (SIGPIPE at its default disposition,
a kill), the call's outcome is the signal that ended it.

`outcome()` is the one place a raw event becomes the token a scenario
expects: a byte count, EOF, ok, an errno name, a signal name, a TCP state,
TIMEOUT, SKIPPED, or, where a runtime failed a call without an errno (Java),
its exact words. Words whose message is libc's own strerror() text (Java
passes the C library's text on: "java.io.IOException: Broken pipe") name
that errno; the table is made from this machine's libc (os.strerror), never
written by hand, and the runtime's own texts ("Connection reset") stay words.

    >>> outcome("recv", {"ret": 0})
    'EOF'
    >>> outcome("send", {"errno": "EPIPE", "strerror": "Broken pipe"})
    'EPIPE'
    >>> outcome("send", {"exit": 141})
    'SIGPIPE'
    >>> token = outcome("recv", {"words": "java.net.SocketException: Connection reset"})
    >>> token, is_success(token)
    ('java.net.SocketException: Connection reset', False)
    >>> outcome("send", {"words": "java.io.IOException: Broken pipe"})
    'EPIPE'
"""

import errno
import json
import os
import signal

from lab.errors import StepTimeout

GRACE = 2.0  # seconds we wait beyond a call's own deadline before calling it hung
FAILURES = ("TIMEOUT", "ERROR", "SKIPPED")
ERRNO_NAMES = set(errno.errorcode.values())
LIBC_TEXTS = {os.strerror(n): name for n, name in sorted(errno.errorcode.items(), reverse=True)}  # lowest wins


def libc_errno(words):
    """The errno whose strerror() text is the message of these words, if it is one."""
    return LIBC_TEXTS.get(words.rpartition(": ")[2])


def signal_name(rc):
    """128+N from the engine means killed by signal N."""
    if rc is not None and rc > 128:
        try:
            return signal.Signals(rc - 128).name
        except ValueError:
            pass
    return None


class Words(str):
    """A failure the runtime reported in its own words only, with no errno (Java's exceptions)."""


def outcome(op, event):
    if "error" in event:
        return "ERROR"
    if "skipped" in event:
        return "SKIPPED"
    if "timeout" in event:
        return "TIMEOUT"
    if "errno" in event:
        return event["errno"]
    if "exit" in event:
        return signal_name(event["exit"]) or f"exit {event['exit']}"
    if "ret" not in event and "words" in event:
        return libc_errno(event["words"]) or Words(event["words"])
    ret = event.get("ret")
    if op in ("recv", "recvall") and ret == 0:
        return "EOF"
    return "ok" if ret is None else ret


def is_success(token):
    """Is this outcome a success (what `ok` and an omitted expect accept)?"""
    if isinstance(token, int):
        return True
    return not (isinstance(token, Words) or token in FAILURES or token in ERRNO_NAMES or token.startswith(("SIG", "exit ")))


class Agent:
    def __init__(self, host, sigpipe="ignore", timeout=30.0):  # a JVM under emulation starts slowly
        self.host = host
        self.log = []
        self.next_id = 0
        self.process = host.spawn([*host.agent_argv, f"--sigpipe={sigpipe}"])
        hello = self._read(timeout)
        if hello is None:
            stderr = "".join(getattr(self.process, "stderr", []))[-2000:]
            raise StepTimeout(f"the agent in {host.name} did not start" + (f": {stderr}" if stderr else ""))
        self.hello = hello  # its runtime, version and SIGPIPE disposition; `skipped` if it could not do as asked
        self.pid = hello["pid"]
        self.exited = None  # exit status once the process has ended

    def _read(self, timeout):
        line = self.process.read_line(timeout)
        if line is None:
            return None
        self.log.append({"dir": "in", "line": line})
        return json.loads(line)

    def call(self, op, args, timeout, attempts=1):
        """Make one call; return the agent's event, or one saying how the process ended. A call
        that may try several addresses, each with the whole timeout, is waited for as long."""
        self.next_id += 1
        cmd = {"id": self.next_id, "op": op, "timeout": timeout, **args}
        line = json.dumps(cmd)
        self.log.append({"dir": "out", "line": line})
        self.process.write_line(line)
        try:
            event = self._read(timeout * attempts + GRACE)
        except StepTimeout:
            return {"op": op, "timeout": timeout, "hung": True}
        if event is None:
            event = {"op": op, "exit": self.wait_exit(timeout)}
            stderr = "".join(getattr(self.process, "stderr", []))
            return {**event, "stderr": stderr[-2000:]} if stderr else event
        if op == "exit":
            self.wait_exit(timeout)
        return event

    def wait_exit(self, timeout):
        if self.exited is None:
            self.exited = self.process.wait(timeout)
        return self.exited

    @property
    def alive(self):
        return self.exited is None
