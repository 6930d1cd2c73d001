"""Tie every observed failure (and EOF) to the packets that explain it.

For each call whose outcome is an errno, a signal or EOF, look in the capture
beside the calling host (else its peer's) for what the kernel must have
seen on that connection before the call returned:

    ECONNRESET               an RST that reached this host
    EPIPE, SIGPIPE           an earlier RST that reached this host, our own FIN (shutdown), or
                             the retransmissions after which our kernel gave up (a timeout)
    ECONNREFUSED             an RST answering our SYN, or ICMP port-unreachable (IPv6: icmp6-port-unreachable)
    EHOSTUNREACH             ICMP host-unreachable/-prohibited/admin-prohibited, or our ARP requests for the peer
                             unanswered (IPv6: icmp6-addr-unreachable/-beyond-scope/-time-exceeded, or our
                             neighbour solicitations for the peer unanswered)
    ENETUNREACH              ICMP net-unreachable or net-prohibited (IPv6: icmp6-no-route)
    EACCES                   IPv6 only: icmp6-adm-prohibited, icmp6-policy-fail or icmp6-reject-route
    ENOTCONN                 an RST that reached this host, or our retransmissions (the socket is CLOSE)
    ETIMEDOUT                our retransmissions or keepalive probes (counted; the capture
                             sees the peer's answers before a firewall drops them, so
                             "unanswered" is not something it can show), or our ARP requests
                             (neighbour solicitations) for the peer unanswered (the SYNs waited
                             for an answer, unsent)
    EAGAIN                   our window probes (the peer's window is closed: tcp_probe_timer() probes
                             only then), or our data the send buffer still holds: what fills it
    EOF                      the peer's FIN, or its RST (once an earlier call has reported
                             the reset, a read returns 0)
    ETIMEDOUT, EPIPE,        also a `drop` on the caller's own OUTPUT chain, matching the
    SIGPIPE, ENOTCONN        connection and in force: nothing it sent could reach the wire

An outcome with nothing to explain it is **unexplained**, which fails the
run: the lab missed something (a lost capture, a wrong filter), and that must
never pass silently. Successes need no packet.

Which ICMP is looked for goes by the connection's family: an IPv4 connection
is explained by ICMP only, an IPv6 one by ICMPv6 only (packets.py names them
apart), so neither borrows the other's meaning.
"""

from lab.calls import ERRNO_NAMES
from lab.record import Evidence

ICMP_FOR = {
    "ECONNREFUSED": {"port-unreachable"},
    "EHOSTUNREACH": {"host-unreachable", "host-prohibited", "admin-prohibited"},
    "ENETUNREACH": {"net-unreachable", "net-prohibited"},
}
# The errno tcp_v6_err() (net/ipv6/tcp_ipv6.c) sets is icmpv6_err_convert()'s (net/ipv6/icmp.c,
# its tab_unreach[] by code): on a connecting socket (TCP_SYN_SENT) as sk_err when no call holds
# the socket (the connect fails), else as sk_err_soft (scenarios/reject6-kinds.yaml: the resent
# SYN's answer fails it); later as sk_err_soft (reported when the connection gives up) or, with
# IPV6_RECVERR, sk_err.
# ICMPV6_PKT_TOOBIG sets none: tcp_v6_err() lowers the path MTU (tcp_v6_mtu_reduced()) and returns,
# so icmp6-packet-too-big explains no errno.
ICMP6_FOR = {
    "ECONNREFUSED": {"icmp6-port-unreachable"},                 # PORT_UNREACH -> ECONNREFUSED
    "EHOSTUNREACH": {"icmp6-addr-unreachable",                  # ADDR_UNREACH -> EHOSTUNREACH
                     "icmp6-beyond-scope",                      # code 2, "was NOT_NEIGHBOUR" -> EHOSTUNREACH
                     "icmp6-time-exceeded", "icmp6-reassembly-time-exceeded"},  # TIME_EXCEED -> EHOSTUNREACH
    "ENETUNREACH": {"icmp6-no-route"},                          # NOROUTE -> ENETUNREACH (not EHOSTUNREACH)
    "EACCES": {"icmp6-adm-prohibited", "icmp6-policy-fail",     # ADM_PROHIBITED, POLICY_FAIL,
               "icmp6-reject-route"},                           # REJECT_ROUTE -> EACCES
}
SLACK = 0.002  # seconds: a packet stamped just after the call returned still counts (stamping order)


def needs_evidence(outcome):
    return isinstance(outcome, str) and (outcome == "EOF" or outcome in ERRNO_NAMES or outcome.startswith("SIG"))


def unanswered(segments, me, peer):
    """Our ARP requests (IPv6: neighbour solicitations) for the peer, when none was answered: what
    was sent stayed queued."""
    asked = [s for s in segments if (s.arp == "request" or s.nd == "solicitation") and s.src == me and s.dst == peer]
    answers = [s for s in segments if (s.arp == "reply" or s.nd == "advertisement") and s.src == peer and s.dst == me]
    return [] if answers else asked


def explain_one(outcome, conn, segments, end):
    """(explained, what was looked for, matching segments). conn: the call's record.Connection."""
    (me, my_port), (peer, peer_port) = conn.local, conn.peer
    before = [s for s in segments if s.ts <= end + SLACK]
    to_me = [s for s in before if s.tcp and s.src == peer and s.dst == me
             and s.sport == peer_port and s.dport == my_port]
    from_me = [s for s in before if s.tcp and s.src == me and s.dst == peer
               and s.sport == my_port and s.dport == peer_port]
    icmp = [s for s in before if s.icmp and s.dst == me and {s.sport, s.dport} == {my_port, peer_port}]
    rsts = [s for s in to_me if "RST" in s.flags]
    if outcome == "ECONNRESET":
        return bool(rsts), "an RST from the peer on this connection", rsts
    tries = [s for s in from_me if s.retransmission or s.keepalive]
    if outcome in ("EPIPE", "SIGPIPE"):
        fins = [s for s in from_me if "FIN" in s.flags]
        found = rsts or fins or tries
        return bool(found), "an RST from the peer, our own FIN, or retransmissions our kernel gave up on", found
    if outcome == "ENOTCONN":  # the socket is CLOSE (or never connected): reset, or given up
        found = rsts or tries
        return bool(found), "an RST from the peer, or retransmissions our kernel gave up on", found
    if outcome == "EAGAIN":   # a send that would wait: the send buffer is full of what the peer has not taken
        found = [s for s in from_me if s.keepalive] or [s for s in from_me if s.length]
        return bool(found), "our window probes (the peer's window closed) or our data, filling the send buffer", found
    if outcome == "EOF":
        fins = [s for s in to_me if "FIN" in s.flags] or rsts
        return bool(fins), "the peer's FIN (or RST) on this connection", fins
    ipv6 = ":" in peer
    table, asking = (ICMP6_FOR, "neighbour solicitations") if ipv6 else (ICMP_FOR, "ARP requests")
    if outcome in table:
        found = [s for s in icmp if s.icmp in table[outcome]]
        if outcome == "ECONNREFUSED":
            found = rsts + found
        if outcome == "EHOSTUNREACH" and not found:
            found = unanswered(before, me, peer)
        wanted = " or ".join(sorted(table[outcome]))
        extra = {"ECONNREFUSED": "an RST answering our SYN, or ", "EHOSTUNREACH": ""}.get(outcome, "")
        arp = f", or our {asking} unanswered" if outcome == "EHOSTUNREACH" else ""
        return bool(found), f"{extra}ICMP {wanted} for this connection{arp}", found
    if outcome == "ETIMEDOUT":
        found = tries or unanswered(before, me, peer)
        return bool(found), f"our retransmissions or keepalive probes ({len(tries)} seen), " \
                            f"or our {asking} unanswered", found
    return False, f"no rule says which packet explains {outcome}", []


SILENCED = ("ETIMEDOUT", "EPIPE", "SIGPIPE", "ENOTCONN")  # what a sender whose packets never leave can see


def own_output_drop(scenario, step, conn, addresses):
    """The earlier `drop` step on this host's own OUTPUT chain, matching this connection's
    peer and port and not healed before `step`: the reason its packets are not on the wire."""
    healed = {s.args["of"] for s in scenario.steps[:step.number - 1] if s.fault == "heal"}
    for s in scenario.steps[:step.number - 1]:
        a = s.args
        if (s.fault == "drop" and s.host == step.host and a.get("chain") == "OUTPUT" and s.label not in healed
                and a.get("peer") in (None, *[h for h, ip in addresses.items() if ip == conn.peer[0]])
                and a.get("port") in (None, conn.peer[1])):
            return s
    return None


def explain(scenario, run):
    """One Evidence per observation that needs one. run: a record.RunRecord being judged."""
    found = []
    steps = {s.number: s for s in scenario.steps}
    for obs in run.observations:
        step = steps[obs.number]
        if not step.call or not needs_evidence(obs.outcome):
            continue
        conn = run.connection(step.args.get("sock", "conn"), step.host, at=step.number)
        if conn is None:
            found.append(Evidence(obs.number, obs.outcome, False, "the socket's connection is unknown"))
            continue
        peer_host = run.host_of(conn.peer[0])
        seen_at = step.host if step.host in run.packets else peer_host if peer_host in run.packets else None
        ok, because, packets = explain_one(obs.outcome, conn, run.packets.get(seen_at, []), obs.end)
        dropped = own_output_drop(scenario, step, conn, run.addresses)
        if not ok and dropped is not None and obs.outcome in SILENCED:
            ok, because = True, (f"our own OUTPUT chain dropped what we sent to the peer (step {dropped.label}): "
                                 "nothing could reach the wire")
        found.append(Evidence(obs.number, obs.outcome, ok, because,
                              tuple(s.summary for s in packets[:5]), seen_at))
    return found
