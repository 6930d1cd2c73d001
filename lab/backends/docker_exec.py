"""Programs in a container through the engine's API: one-shot commands (exec_in)
and long-lived ones whose stdin/stdout are a hijacked API connection (DockerProcess).

The engine multiplexes a non-TTY exec's stdout and stderr on one stream in
frames of an 8-byte header (stream id, length) and the bytes; a thread reads
them and splits stdout into lines.
"""

import struct
import threading

import docker.errors

from lab.backends.base import ExecResult, LineProcess
from lab.errors import HostGone


def exec_in(container, argv):
    try:
        rc, (out, err) = container.exec_run(argv, demux=True)
    except docker.errors.APIError as exc:
        if isinstance(exc, docker.errors.NotFound) or "is not running" in str(exc):
            raise HostGone(f"{container.name} is stopped or removed") from None
        raise
    return ExecResult(rc, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"))


def read_frame(sock):
    """One frame of the engine's multiplexed stream: (stream id, bytes) or None at EOF."""
    header = _read_exactly(sock, 8)
    if header is None:
        return None
    stream, size = struct.unpack(">BxxxL", header)
    return stream, _read_exactly(sock, size) or b""


def _read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class DockerProcess(LineProcess):
    """An exec with stdin attached; a thread splits its stdout into lines."""

    def __init__(self, client, container, argv):
        super().__init__()
        self.api = client.api
        self.exec_id = self.api.exec_create(container.id, argv, stdin=True, stdout=True, stderr=True)["Id"]
        self.sock = self.api.exec_start(self.exec_id, socket=True)._sock
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        pending = b""
        try:
            while (frame := read_frame(self.sock)) is not None:
                stream, data = frame
                if stream == 2:
                    self.stderr.append(data.decode(errors="replace"))
                    continue
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self.lines.put(line.decode())
        except OSError:
            pass  # the connection was closed under us at teardown
        self.lines.put(None)

    def write_line(self, line):
        try:
            self.sock.sendall(line.encode() + b"\n")
        except OSError:
            pass  # the process is gone; read_line reports the end of stream

    @property
    def returncode(self):
        state = self.api.exec_inspect(self.exec_id)
        return None if state["Running"] else state["ExitCode"]
