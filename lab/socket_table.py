"""The waits `state` and `acked`, read from a host's socket table (`ss`) by the lab.

A wait is the lab watching the kernel, not a call the program makes. The
python, c and go agents answer it themselves (TCP_INFO, SIOCOUTQ on their own
socket); Java and Node have no API for either and answer SKIPPED. For those
the runner asks the host's kernel the same question through inet_diag: `ss`
finds the connection by its two ends (the addresses the agent reported
after connect or accept) and reads its state and its send queue.

The send queue ss shows for a connection is `write_seq - snd_una`
(tcp_diag_get_info() in net/ipv4/tcp_diag.c), the same count SIOCOUTQ
returns (tcp_ioctl() in net/ipv4/tcp.c). A socket the kernel has closed is
in no table (tcp_done() unhashes it; an automatically chosen port is
released), and one whose connection went to TIME_WAIT is a closed socket
beside a timewait mini-socket: both read as CLOSE, as TCP_INFO on the
program's socket says. A connect still pending in Java reports no local
address (SocketChannelImpl sets it when the connect completes): that socket
is the one to its peer whose local end no other socket of the host has.

    >>> parse_row("ESTAB 0 12 10.0.0.11:40000 10.0.0.10:7000")
    ('ESTABLISHED', 12, ('10.0.0.11', 40000), ('10.0.0.10', 7000))
"""

import time

from lab.record import canonical
from lab.scenario.calls import TCP_STATES

SS_STATES = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT1",
             "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "CLOSE", "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
             "LISTEN": "LISTEN", "CLOSING": "CLOSING", "UNCONN": "CLOSE"}
POLL = 0.02  # seconds between looks, as the agents poll TCP_INFO


def endpoint(text):
    """ "[::ffff:10.0.0.1]:7000" -> ("10.0.0.1", 7000); a listener's "*" port -> None."""
    address, _, port = text.rpartition(":")
    return canonical(address.strip("[]")), int(port) if port.isdigit() else None


def ends_of(address, port):
    """An agent's [address, port] as ss writes it (Java gives IPv6 addresses in full)."""
    return canonical(address), port


def parse_row(line):
    state, _, send_q, local, peer = line.split()[:5]
    return SS_STATES.get(state, state), int(send_q), endpoint(local), endpoint(peer)


def look(host, local, peer, others=()):
    """(state, send queue) of the connection local-peer in host (local None: the one connection
    to peer from no local end in `others`); ("CLOSE", 0) when it is in no table."""
    done = host.exec(["ss", "-tanH", "state", "all"])
    found = []
    for line in done.stdout.splitlines():
        if not line.strip():
            continue
        state, send_q, here, there = parse_row(line)
        if there == peer and (here == local if local else here not in others):
            found.append((state, send_q))
    return found[0] if len(found) == 1 else ("CLOSE", 0)


def wait(host, op, ends, want, timeout, others=()):
    """An agent-shaped event for wait `op` ("state" or "acked") on the connection `ends`."""
    if ends is None:
        return {"op": op, "error": "the lab knows no addresses for this socket (it never connected)"}
    local, peer = ends
    local = ends_of(*local) if local else None
    clock = time.time()
    deadline = time.monotonic() + timeout
    start = {"real": clock, "mono": time.monotonic()}
    unknown = set(want) - set(TCP_STATES)
    if unknown:
        return {"op": op, "error": f"no TCP state {', '.join(sorted(unknown))}"}
    while True:
        state, send_q = look(host, local, ends_of(*peer), others)
        done = state in want if op == "state" else send_q == 0
        if done or time.monotonic() > deadline:
            end = {"real": time.time(), "mono": time.monotonic()}
            event = {"op": op, "start": start, "end": end, "how": "ss (inet_diag) in the host, polled by the lab"}
            if done:
                return {**event, "ret": state if op == "state" else 0}
            return {**event, "timeout": timeout, "last": state if op == "state" else send_q}
        time.sleep(POLL)
