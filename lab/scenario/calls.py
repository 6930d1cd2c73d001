"""The calls a host's agent makes and the waits a step can make, declared once.

Every runtime's agent implements these calls (the Python one as `op_<name>`
in lab/sockops.py; a test checks the two agree). The runner makes `wait state`
and `wait acked` through the agent too, and waits for `exit` itself. A new
call is declared here, implemented in each agent, and used in a scenario.
"""

import errno
import signal

from lab.scenario.kinds import BOOL, BYTES, PORT, SOCK, TARGET, UNOWNED, Arg, Kind
from lab.sockops import SOCKET_OPTIONS, TCP_STATES

STATES = [s for s in TCP_STATES if s is not None]
SOCKET_OPTION = {"enum": list(SOCKET_OPTIONS), "title": "socket option"}
OPTION_VALUE = {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}],
                "title": "option value", "description": "a number; for SO_LINGER [on, seconds]"}
OPTIONS = Arg("options", {"type": "object", "propertyNames": SOCKET_OPTION, "additionalProperties": OPTION_VALUE},
              "Socket options set before bind or connect, e.g. {TCP_SYNCNT: 1}.")
STATE = {"enum": STATES, "title": "TCP state"}

# What a call's or a wait's outcome may be besides a byte count: its words, then every name.
NAMED_OUTCOMES = ["EOF", "ok", "TIMEOUT"]
OUTCOME_NAMES = (NAMED_OUTCOMES + sorted(n for n in errno.errorcode.values() if n.startswith("E"))
                 + sorted(signal.Signals.__members__) + STATES)
OUTCOME_WORDS = ("a byte count, EOF, ok, TIMEOUT, an errno name such as ECONNRESET, "
                 "a signal name such as SIGPIPE, a TCP state")

CALLS = (
    Kind("call", "listen", "Bind to `port` on every address of the family and listen.", (
        Arg("port", PORT, required=True), Arg("backlog", {"type": "integer", "minimum": 0}, "listen()'s backlog (default 16)."),
        Arg("family", {"enum": [4, 6]}, "Bind 0.0.0.0 (4) or :: (6); default: the run's family."),
        Arg("sock", SOCK), OPTIONS), outcome=True),
    Kind("call", "accept", "Accept one connection from `listener`, named `sock`.", (
        Arg("sock", SOCK), Arg("listener", {"type": "string"}, "The listening socket (default listener).")), outcome=True),
    Kind("call", "connect", "Connect to `port` on host `to` (blocking, until the step's timeout).", (
        Arg("to", TARGET, f"The host to connect to, or {UNOWNED}: an address of the lab's own subnet that "
                          "no host owns (its ARP is never answered).", required=True), Arg("port", PORT, required=True),
        Arg("family", {"enum": [4, 6]}, "Which of `to`'s addresses: 4 reaches a host's IPv4 address in an IPv6 "
                                        "run (whose hosts have both); default: the run's family."),
        Arg("by", {"enum": ["address", "name"]}, "address (default): `to`'s address of the family; name: `to`'s "
                                                 "name, which the runtime resolves and tries as a program of it does "
                                                 "(every host resolves each host's name to all its addresses)."),
        Arg("sock", SOCK), OPTIONS), outcome=True),
    Kind("call", "send", "One send() of `bytes` bytes (default 1); the outcome is the count queued.", (
        Arg("sock", SOCK), Arg("bytes", BYTES),
        Arg("dontwait", BOOL, "true: a non-blocking send (MSG_DONTWAIT): EAGAIN where a blocking one would wait "
                              "for room; each runtime's own way, or SKIPPED (lab/agents/PROTOCOL.md).")), outcome=True),
    Kind("call", "sendall", "send() until `bytes` are queued; the outcome is the total.", (
        Arg("bytes", BYTES, required=True), Arg("sock", SOCK)), outcome=True),
    Kind("call", "recv", "One recv() of up to `bytes` (default 65536); 0 bytes is EOF.", (
        Arg("sock", SOCK), Arg("bytes", BYTES)), outcome=True),
    Kind("call", "recvall", "recv() until `bytes` have arrived, stopping early at EOF; the outcome is the total.", (
        Arg("bytes", BYTES, required=True), Arg("sock", SOCK)), outcome=True),
    Kind("call", "shutdown", "Shut down one or both directions (default WR: send a FIN).", (
        Arg("sock", SOCK), Arg("how", {"enum": ["RD", "WR", "RDWR"]})), outcome=True),
    Kind("call", "close", "Close the socket.", (Arg("sock", SOCK),), outcome=True),
    Kind("call", "getpeername", "getpeername(): ok with the peer's address, or the errno (ENOTCONN on a "
                                "closed socket).", (Arg("sock", SOCK),), outcome=True),
    Kind("call", "so_error", "getsockopt(SO_ERROR): the socket's pending error by its errno name, or 0; reading it "
                             "clears it (sock_error()).", (Arg("sock", SOCK),), outcome=True),
    Kind("call", "setsockopt", "Set one socket option on an open socket.", (
        Arg("option", SOCKET_OPTION, required=True), Arg("value", OPTION_VALUE, required=True),
        Arg("sock", SOCK)), outcome=True),
    Kind("call", "exit", "The agent exits without closing anything: its kernel closes its sockets "
                         "as for a crashed program (FIN, or RST over unread data).", outcome=True),
)

WAITS = (
    Kind("wait", "state", "Until the socket reaches a TCP state (one of a list); its outcome is the state reached, "
                          "which expect can name where runtimes differ.", (
        Arg("state", {"oneOf": [STATE, {"type": "array", "minItems": 1, "items": STATE}], "title": "TCP state"},
            required=True), Arg("sock", SOCK)), outcome=True),
    Kind("wait", "acked", "Until the peer has acknowledged everything the socket sent.", (Arg("sock", SOCK),)),
    Kind("wait", "exit", "Until the host's agent process has ended; expect its signal or ok.", outcome=True),
)
