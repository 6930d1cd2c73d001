"""The agent: makes socket calls inside a lab host, one JSON line per call.

Runs inside the host containers with nothing but the standard library (it is
copied into the image on its own). It reads one JSON command per line on
stdin, makes exactly the socket call asked for, and writes one JSON line on
stdout with what the kernel returned: the return value, or the errno name and
strerror. It never interprets a result; judging is the verdict's job.

The control channel is this process's stdin/stdout, carried by the container
engine's API (or a pipe on other backends), so it never touches the lab's
data network and never shows in a capture.

Every event carries two clocks: CLOCK_MONOTONIC for durations and
CLOCK_REALTIME, the clock tcpdump stamps packets with, so calls and packets
can be put on one timeline.

    >>> import json
    >>> agent = Agent()
    >>> json.loads(agent.handle('{"id": 1, "op": "close", "sock": "nope"}'))["error"]
    "no socket named 'nope'"
"""

import errno
import fcntl
import json
import os
import platform
import select
import signal
import socket
import struct
import sys
import time

# tcp_states.h order; TCP_INFO's first byte is one of these.
TCP_STATES = [None, "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
              "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
              "NEW_SYN_RECV"]

SOCKET_OPTIONS = {
    "SO_LINGER": (socket.SOL_SOCKET, socket.SO_LINGER),
    "SO_KEEPALIVE": (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
    "SO_RCVBUF": (socket.SOL_SOCKET, socket.SO_RCVBUF),
    "SO_SNDBUF": (socket.SOL_SOCKET, socket.SO_SNDBUF),
    "SO_REUSEADDR": (socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "TCP_NODELAY": (socket.IPPROTO_TCP, socket.TCP_NODELAY),
    "TCP_USER_TIMEOUT": (socket.IPPROTO_TCP, 18),
    "TCP_KEEPIDLE": (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
    "TCP_KEEPINTVL": (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
    "TCP_KEEPCNT": (socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    "TCP_SYNCNT": (socket.IPPROTO_TCP, socket.TCP_SYNCNT),
    "IPV6_V6ONLY": (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY),   # IPv6 sockets only
}
WILDCARD = {4: (socket.AF_INET, "0.0.0.0"), 6: (socket.AF_INET6, "::")}

SIOCOUTQ = 0x5411  # bytes sent but not yet acknowledged (linux/sockios.h, = TIOCOUTQ)

SHUTDOWN = {"RD": socket.SHUT_RD, "WR": socket.SHUT_WR, "RDWR": socket.SHUT_RDWR}


class CallTimeout(Exception):
    """The call did not complete before the step's deadline."""


def clocks():
    return {"mono": time.monotonic(), "real": time.time()}


def set_option(sock, name, value):
    level, opt = SOCKET_OPTIONS[name]
    if name == "SO_LINGER":
        onoff, seconds = value
        sock.setsockopt(level, opt, struct.pack("ii", onoff, seconds))
    else:
        sock.setsockopt(level, opt, int(value))


def effective(sock):
    """Every option of SOCKET_OPTIONS as the kernel has it now (getsockopt): runtime defaults differ."""
    values = {}
    for name, (level, opt) in SOCKET_OPTIONS.items():
        if name == "IPV6_V6ONLY" and sock.family != socket.AF_INET6:
            continue
        if name == "SO_LINGER":
            values[name] = list(struct.unpack("ii", sock.getsockopt(level, opt, 8)))
        else:
            values[name] = sock.getsockopt(level, opt)
    return values


def tcp_state(sock):
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return TCP_STATES[info[0]]


def wait_readable(sock, timeout):
    """Block until sock is readable (or errored), as the blocking call would."""
    if timeout is None:
        return
    ready, _, _ = select.select([sock], [], [], timeout)
    if not ready:
        raise CallTimeout()


def known_so_far(exc):
    """What a failed call still knows: bytes moved so far, a failed connect's endpoints."""
    return getattr(exc, "extra", {})


def endpoints(sock):
    local, peer = sock.getsockname(), sock.getpeername()
    return {"local": list(local[:2]), "peer": list(peer[:2])}


class Agent:
    def __init__(self):
        self.sockets = {}

    def sock(self, cmd):
        name = cmd.get("sock", "conn")
        if name not in self.sockets:
            raise KeyError(f"no socket named {name!r}")
        return self.sockets[name]

    def op_listen(self, cmd):
        family, wildcard = WILDCARD[int(cmd.get("family", 4))]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for name, value in cmd.get("options", {}).items():
            set_option(sock, name, value)
        sock.bind((wildcard, cmd["port"]))
        self.sockets[cmd.get("sock", "listener")] = sock
        return sock.listen(cmd.get("backlog", 16)), {}

    def op_accept(self, cmd):
        listener = self.sockets[cmd.get("listener", "listener")]
        wait_readable(listener, cmd.get("timeout"))
        conn, peer = listener.accept()
        self.sockets[cmd.get("sock", "conn")] = conn
        # accept's own address, not getpeername(): a connection reset before accept has none left
        return None, {"local": list(conn.getsockname()[:2]), "peer": list(peer[:2]), "effective": effective(conn)}

    def op_connect(self, cmd):
        """socket.create_connection()'s loop, with the options set on each socket: every address of
        `addr` (one for a literal; a name's in getaddrinfo's order), each with the whole timeout,
        until one connects; the last failure is the call's."""
        candidates = socket.getaddrinfo(cmd["addr"], cmd["port"], type=socket.SOCK_STREAM)
        for i, (family, _, _, _, address) in enumerate(candidates):
            sock = socket.socket(family, socket.SOCK_STREAM)
            self.sockets[cmd.get("sock", "conn")] = sock
            for name, value in cmd.get("options", {}).items():
                set_option(sock, name, value)
            sock.settimeout(cmd.get("timeout"))
            try:
                sock.connect(address)
                break
            except (OSError, CallTimeout) as exc:
                if i + 1 < len(candidates):
                    sock.close()
                    continue
                # a failed connect still had a local port: the packets that explain it use it
                # Python's own deadline has no errno; the kernel's ETIMEDOUT (also a TimeoutError) has one
                failed = CallTimeout() if isinstance(exc, socket.timeout) and exc.errno is None else exc
                failed.extra = {"local": list(sock.getsockname()[:2]), "peer": [address[0], cmd["port"]]}
                raise failed from None
        sock.settimeout(None)
        return None, {**endpoints(sock), "effective": effective(sock)}

    def op_send(self, cmd):
        flags = socket.MSG_DONTWAIT if cmd.get("dontwait") else 0   # EAGAIN where a blocking send() would wait
        return self.sock(cmd).send(b"x" * cmd.get("bytes", 1), flags), {}

    def op_sendall(self, cmd):
        """send() until all `bytes` are queued; ret is the total (an error reports how far it got)."""
        sock, total, chunk = self.sock(cmd), cmd["bytes"], b"x" * 65536
        sent = 0
        try:
            while sent < total:
                sent += sock.send(chunk[:min(len(chunk), total - sent)])
        except OSError as exc:
            exc.extra = {"partial": sent}
            raise
        return sent, {}

    def op_recvall(self, cmd):
        """recv() until `bytes` have arrived or EOF; ret is the total received."""
        sock, total = self.sock(cmd), cmd["bytes"]
        deadline = None if cmd.get("timeout") is None else time.monotonic() + cmd["timeout"]
        got = 0
        try:
            while got < total:
                wait_readable(sock, None if deadline is None else max(0.0, deadline - time.monotonic()))
                data = sock.recv(min(1 << 20, total - got))
                if not data:
                    break
                got += len(data)
        except (OSError, CallTimeout) as exc:
            exc.extra = {"partial": got}
            raise
        return got, {}

    def op_recv(self, cmd):
        sock = self.sock(cmd)
        wait_readable(sock, cmd.get("timeout"))
        return len(sock.recv(cmd.get("bytes", 65536))), {}

    def op_shutdown(self, cmd):
        return self.sock(cmd).shutdown(SHUTDOWN[cmd.get("how", "WR")]), {}

    def op_close(self, cmd):
        sock = self.sock(cmd)
        del self.sockets[cmd.get("sock", "conn")]
        return sock.close(), {}

    def op_getpeername(self, cmd):
        """The peer's address as the kernel still has it; ENOTCONN once the socket is closed."""
        return None, {"address": list(self.sock(cmd).getpeername()[:2])}

    def op_so_error(self, cmd):
        """getsockopt(SO_ERROR): the pending error's name (the kernel clears it: sock_error()), or 0."""
        value = self.sock(cmd).getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return (errno.errorcode[value] if value else 0), {}

    def op_setsockopt(self, cmd):
        return set_option(self.sock(cmd), cmd["option"], cmd["value"]), {}

    def op_state(self, cmd):
        """Poll TCP_INFO (the source `ss` reads) until the state is one wanted."""
        sock, wanted = self.sock(cmd), cmd["want"]
        deadline = time.monotonic() + cmd.get("timeout", 5.0)
        while True:
            state = tcp_state(sock)
            if state in wanted:
                return state, {}
            if time.monotonic() > deadline:
                raise CallTimeout()
            time.sleep(0.002)

    def op_acked(self, cmd):
        """Poll SIOCOUTQ until the peer has acknowledged everything we sent."""
        sock = self.sock(cmd)
        deadline = time.monotonic() + cmd.get("timeout", 5.0)
        while (unacked := struct.unpack("i", fcntl.ioctl(sock, SIOCOUTQ, b"\0" * 4))[0]) > 0:
            if time.monotonic() > deadline:
                raise CallTimeout()
            time.sleep(0.002)
        return unacked, {}

    def handle(self, line):
        cmd = json.loads(line)
        event = {"id": cmd.get("id"), "op": cmd["op"], "sock": cmd.get("sock"), "start": clocks()}
        try:
            ret, extra = getattr(self, "op_" + cmd["op"])(cmd)
            event.update(ret=ret, **extra)
        except CallTimeout as exc:
            event.update(timeout=cmd.get("timeout"), **known_so_far(exc))
        except socket.gaierror as exc:  # a name that does not resolve: getaddrinfo's EAI_ code, no errno
            event.update(words=f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            if exc.errno is None:
                raise
            event.update(errno=errno.errorcode[exc.errno], strerror=os.strerror(exc.errno),
                         words=f"{type(exc).__name__}: {exc}", **known_so_far(exc))  # what a traceback shows
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            event["error"] = str(exc.args[0]) if exc.args else repr(exc)
        event["end"] = clocks()
        return json.dumps(event)


def main(argv):
    if "--sigpipe=default" in argv:
        # Python ignores SIGPIPE at start-up; a scenario may want what C programs get.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    agent = Agent()
    out = sys.stdout
    sigpipe = "default" if signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL else "ignore"
    out.write(json.dumps({"op": "hello", "pid": os.getpid(), "runtime": "python",
                          "version": f"CPython {platform.python_version()}", "sigpipe": sigpipe,
                          "start": clocks()}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        if json.loads(line).get("op") == "exit":
            # Exit without closing anything first: the kernel closes our
            # sockets as it would a crashed program's (FIN, or RST on unread data).
            out.write(json.dumps({"id": json.loads(line).get("id"), "op": "exit",
                                  "ret": None, "start": clocks(), "end": clocks()}) + "\n")
            out.flush()
            os._exit(0)
        out.write(agent.handle(line) + "\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
