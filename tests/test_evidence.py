"""Evidence: each failure and EOF tied to the packet that explains it, on a recorded
crash-reset run and on segments made in the tests for every rule."""

import io
import json
from pathlib import Path

import dpkt
import pytest

from lab import evidence, packets
from lab.record import Connection, Observation, RunRecord
from lab.scenario.load import load, load_text, path_for
from lab.verdict import judge
from pcaps import Frame, Pkt, build, icmp6_frame, ns_frame

DATA = Path(__file__).resolve().parent / "data" / "crash-reset"
ME, PEER = "10.0.0.11", "10.0.0.10"


def recorded():
    observed = json.loads((DATA / "observed.json").read_text())
    observations = [Observation(o["step"], o["outcome"], o["start"], o["end"], o["event"])
                    for o in observed["observations"]]
    return observed["addresses"], observations


def without_rsts(pcap):
    """The same capture with every RST taken out, as if tcpdump had missed them."""
    out = dpkt.pcap.Writer(buf := io.BytesIO())
    for ts, frame in dpkt.pcap.Reader(io.BytesIO(pcap)):
        ip = dpkt.ethernet.Ethernet(frame).data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP) and ip.data.flags & dpkt.tcp.TH_RST:
            continue
        out.writepkt(frame, ts=ts)
    return buf.getvalue()


def verdict_on(pcaps):
    addresses, observations = recorded()
    captures = {h: packets.parse(p, set(addresses.values())) for h, p in pcaps.items()}
    return judge(load(path_for("crash-reset")), (6, 18, 0), observations, captures, addresses)


def test_recorded_crash_reset_is_explained_by_the_clients_rst_and_fin():
    v = verdict_on({h: (DATA / f"{h}.pcap").read_bytes() for h in ("server", "client")})
    assert v.passed and [e.outcome for e in v.evidence] == ["EOF", "EPIPE", "EPIPE"]
    assert "FIN" in v.evidence[0].packets[0] and "RST" in v.evidence[1].packets[0]


def test_deleting_the_rst_from_the_capture_makes_crash_reset_unexplained():
    v = verdict_on({h: without_rsts((DATA / f"{h}.pcap").read_bytes()) for h in ("server", "client")})
    assert not v.passed
    assert [(e.step, e.outcome) for e in v.unexplained] == [(22, "EPIPE"), (25, "EPIPE")]


def seg(src, dst, flags=(), ts=1.0, **kw):
    sport, dport = (5000, 7000) if src == ME else (7000, 5000)
    return packets.Segment(ts=ts, src=src, dst=dst, sport=kw.pop("sport", sport), dport=kw.pop("dport", dport),
                           flags=tuple(flags), seq=1, ack=1, length=kw.pop("length", 0), **kw)


CONN = Connection(2, "client", "conn", (ME, 5000), (PEER, 7000))
RST_IN, FIN_IN, FIN_OUT = seg(PEER, ME, ["RST"]), seg(PEER, ME, ["FIN", "ACK"]), seg(ME, PEER, ["FIN", "ACK"])
ICMP = {name: seg(PEER, ME, icmp=name, sport=5000, dport=7000) for name in
        ("port-unreachable", "host-unreachable", "admin-prohibited", "net-unreachable")}


@pytest.mark.parametrize("outcome, segments, explained", [
    ("ECONNRESET", [RST_IN], True),
    ("ECONNRESET", [FIN_IN], False),
    ("ECONNRESET", [seg(PEER, ME, ["RST"], sport=7001)], False),       # another connection's RST
    ("ECONNRESET", [seg(PEER, ME, ["RST"], ts=9.0)], False),           # after the call returned
    ("EPIPE", [RST_IN], True),
    ("EPIPE", [FIN_OUT], True),                                       # our own shutdown
    ("EPIPE", [FIN_IN], False),
    ("SIGPIPE", [RST_IN], True),
    ("EOF", [FIN_IN], True),
    ("EOF", [RST_IN], True),                                         # the reset was reported before
    ("ECONNREFUSED", [RST_IN], True),
    ("ECONNREFUSED", [ICMP["port-unreachable"]], True),
    ("ECONNREFUSED", [ICMP["host-unreachable"]], False),
    ("EHOSTUNREACH", [ICMP["host-unreachable"]], True),
    ("EHOSTUNREACH", [ICMP["admin-prohibited"]], True),
    ("EHOSTUNREACH", [seg(ME, PEER, arp="request")], True),            # ARP never answered
    ("EHOSTUNREACH", [seg(ME, PEER, arp="request"), seg(PEER, ME, arp="reply")], False),
    ("ENETUNREACH", [ICMP["net-unreachable"]], True),
    ("ENETUNREACH", [ICMP["port-unreachable"]], False),
    ("ENOTCONN", [RST_IN], True),                                     # getpeername on a reset socket
    ("ENOTCONN", [FIN_IN], False),                                    # a FIN leaves it connected
    ("ETIMEDOUT", [seg(ME, PEER, ["SYN"], retransmission=True)], True),
    ("ETIMEDOUT", [seg(ME, PEER, ["ACK"], keepalive=True)], True),
    ("ETIMEDOUT", [seg(ME, PEER, ["ACK"], length=10)], False),         # sent once, never again
    ("ETIMEDOUT", [seg(ME, PEER, arp="request")], True),               # the SYNs waited for ARP, unsent
    ("ETIMEDOUT", [seg(ME, PEER, arp="request"), seg(PEER, ME, arp="reply")], False),
    ("EAGAIN", [seg(ME, PEER, ["ACK"], keepalive=True)], True),          # a window probe: the window is closed
    ("EAGAIN", [seg(ME, PEER, ["ACK"], length=10)], True),             # our data, filling the send buffer
    ("EAGAIN", [RST_IN], False),
    ("EWHATEVER", [RST_IN], False),                                   # no rule: never explained by accident
])
def test_each_rule(outcome, segments, explained):
    ok, because, found = evidence.explain_one(outcome, CONN, segments, end=2.0)
    assert ok is explained, because
    assert bool(found) is explained or outcome in ("ETIMEDOUT", "EWHATEVER")


SCENARIO = """
name: x
summary: s
story: s
hosts: {server: , client: }
steps:
  - {host: server, call: listen, port: 7000}
  - {host: client, call: connect, to: server, port: 7000}
  - {host: client, call: recv, expect: EOF}
  - {host: client, call: send, bytes: 5, expect: 5}
packets:
  - {from: server, flags: FIN, min: 1, why: w}
"""


def test_only_failures_and_eof_need_evidence_and_a_failed_connect_uses_its_reported_ports():
    scenario = load_text(SCENARIO, "x.yaml")
    observations = [Observation(1, "ok", 0, 0), Observation(2, "ECONNREFUSED", 0.0, 2.0,
                    {"op": "connect", "sock": None, "local": ["0.0.0.0", 5000], "peer": [PEER, 7000]}),
                    Observation(3, "EOF", 0, 2.0), Observation(4, 5, 0, 2.0)]

    def explained(captures):
        run = RunRecord.of(observations, captures, {"client": ME, "server": PEER}, {1: "server", 2: "client",
                                                                                     3: "client", 4: "client"})
        return [(e.step, e.explained) for e in evidence.explain(scenario, run)]
    assert explained({"client": [RST_IN]}) == [(2, True), (3, True)]  # EOF after the reset was reported
    assert explained({"client": [ICMP["port-unreachable"]]}) == [(2, True), (3, False)]  # nothing ended the stream


def test_a_call_on_a_socket_that_never_connected_is_unexplained():
    scenario = load_text(SCENARIO, "x.yaml")
    observations = [Observation(1, "ok", 0, 0), Observation(2, "ETIMEDOUT", 0.0, 2.0, {"op": "connect"}),
                    Observation(3, "EOF", 0, 2.0)]
    run = RunRecord.of(observations, {"client": [FIN_IN]}, {"client": ME, "server": PEER},
                       {1: "server", 2: "client", 3: "client"})
    assert [(e.step, e.explained, e.because) for e in evidence.explain(scenario, run)] == \
        [(2, False, "the socket's connection is unknown"), (3, False, "the socket's connection is unknown")]


def test_epipe_after_a_timeout_is_explained_by_the_retransmissions_given_up_on():
    ok, _, found = evidence.explain_one("EPIPE", CONN, [seg(ME, PEER, ["ACK"], length=10, retransmission=True)], 2.0)
    assert ok and len(found) == 1


def test_a_drop_on_the_callers_own_output_chain_explains_a_timeout_with_nothing_on_the_wire():
    text = SCENARIO.replace("  - {host: client, call: recv, expect: EOF}\n",
                            "  - {id: out, host: client, fault: drop, chain: OUTPUT, peer: server, port: PORT}\n"
                            "  - {host: client, call: recv, expect: ETIMEDOUT}\n")
    observations = [Observation(1, "ok", 0, 0), Observation(2, "ok", 0.0, 0.1,
                    {"op": "connect", "sock": None, "local": [ME, 5000], "peer": [PEER, 7000]}),
                    Observation(3, "ok", 0.1, 0.2), Observation(4, "ETIMEDOUT", 0.2, 3.0)]

    def explained(port, captures=None):
        run = RunRecord.of(observations, captures or {"client": []}, {"client": ME, "server": PEER},
                           {1: "server", 2: "client", 3: "client", 4: "client"})
        return [(e.step, e.explained) for e in evidence.explain(load_text(text.replace("PORT", port), "x.yaml"), run)]
    assert explained("7000") == [(4, True)]
    assert explained("7001") == [(4, False)]  # a drop for another port explains nothing here
    assert explained("7001", {"client": [seg(ME, PEER, ["ACK"], length=10, retransmission=True)]}) == [(4, True)]


# ---- IPv6: the ICMPv6 errors icmpv6_err_convert() turns into each errno, and neighbour discovery ----

ME6, PEER6 = "fd7a:b0f1:9e2d:ffff::3", "fd7a:b0f1:9e2d:ffff::2"
CONN6 = Connection(2, "client", "conn", (ME6, 5000), (PEER6, 7000))


def icmp6(name):
    return packets.Segment(ts=1.0, src=PEER6, dst=ME6, sport=5000, dport=7000, flags=(), seq=1, ack=0,
                           length=0, icmp=name)


def nd(kind):
    src, dst = (ME6, PEER6) if kind == "solicitation" else (PEER6, ME6)
    return packets.Segment(ts=1.0, src=src, dst=dst, sport=0, dport=0, flags=(), seq=0, ack=0, length=0, nd=kind)


@pytest.mark.parametrize("outcome, segments, explained", [
    ("ECONNREFUSED", [icmp6("icmp6-port-unreachable")], True),
    ("ECONNREFUSED", [packets.Segment(1.0, PEER6, ME6, 7000, 5000, ("RST", "ACK"), 0, 1, 0)], True),
    ("ECONNREFUSED", [icmp6("port-unreachable")], False),              # an IPv4 name explains no IPv6 connection
    ("ECONNREFUSED", [icmp6("icmp6-adm-prohibited")], False),
    ("EHOSTUNREACH", [icmp6("icmp6-addr-unreachable")], True),
    ("EHOSTUNREACH", [icmp6("icmp6-beyond-scope")], True),
    ("EHOSTUNREACH", [icmp6("icmp6-time-exceeded")], True),
    ("EHOSTUNREACH", [icmp6("icmp6-reassembly-time-exceeded")], True),
    ("EHOSTUNREACH", [icmp6("icmp6-adm-prohibited")], False),         # EACCES in IPv6, not as in IPv4
    ("EHOSTUNREACH", [icmp6("icmp6-no-route")], False),               # ENETUNREACH
    ("EHOSTUNREACH", [icmp6("host-unreachable")], False),
    ("EHOSTUNREACH", [nd("solicitation")], True),                      # neighbour solicitation unanswered
    ("EHOSTUNREACH", [nd("solicitation"), nd("advertisement")], False),
    ("EHOSTUNREACH", [seg(ME, PEER, arp="request")], False),           # an ARP for another address
    ("ENETUNREACH", [icmp6("icmp6-no-route")], True),
    ("ENETUNREACH", [icmp6("icmp6-addr-unreachable")], False),
    ("EACCES", [icmp6("icmp6-adm-prohibited")], True),
    ("EACCES", [icmp6("icmp6-policy-fail")], True),
    ("EACCES", [icmp6("icmp6-reject-route")], True),
    ("EACCES", [icmp6("icmp6-port-unreachable")], False),
    ("EACCES", [icmp6("admin-prohibited")], False),
    ("EMSGSIZE", [icmp6("icmp6-packet-too-big")], False),             # tcp_v6_err() lowers the MTU, no errno
    ("ETIMEDOUT", [nd("solicitation")], True),
    ("ETIMEDOUT", [nd("solicitation"), nd("advertisement")], False),
])
def test_each_ipv6_rule(outcome, segments, explained):
    ok, because, found = evidence.explain_one(outcome, CONN6, segments, end=2.0)
    assert ok is explained, because
    assert bool(found) is explained or outcome == "ETIMEDOUT"


@pytest.mark.parametrize("outcome, name", [("EACCES", "icmp6-adm-prohibited"),
                                           ("EHOSTUNREACH", "icmp6-addr-unreachable"),
                                           ("ENETUNREACH", "icmp6-no-route")])
def test_an_icmpv6_name_explains_no_ipv4_connection(outcome, name):
    ok, _, _ = evidence.explain_one(outcome, CONN, [seg(PEER, ME, icmp=name, sport=5000, dport=7000)], end=2.0)
    assert not ok


def test_the_reasons_name_the_family_s_packets_and_ipv4_s_read_as_before():
    _, v4, _ = evidence.explain_one("EHOSTUNREACH", CONN, [], end=2.0)
    _, v6, _ = evidence.explain_one("EHOSTUNREACH", CONN6, [], end=2.0)
    assert v4 == "ICMP admin-prohibited or host-prohibited or host-unreachable for this connection, " \
                 "or our ARP requests unanswered"
    assert v6 == "ICMP icmp6-addr-unreachable or icmp6-beyond-scope or icmp6-reassembly-time-exceeded or " \
                 "icmp6-time-exceeded for this connection, or our neighbour solicitations unanswered"
    assert "neighbour solicitations" in evidence.explain_one("ETIMEDOUT", CONN6, [], end=2.0)[1]


def test_a_parsed_icmpv6_reject_explains_the_connects_eacces():
    syn = Pkt(1.0, ME6, PEER6, 5000, 7000, ("SYN",))
    pcap = build([Frame(0.9, ns_frame(ME6, PEER6)), syn,
                  Frame(1.001, icmp6_frame(PEER6, ME6, 1, 1, quoting=syn))])
    segments = packets.parse(pcap, {ME6, PEER6})
    ok, _, found = evidence.explain_one("EACCES", CONN6, segments, end=2.0)
    assert ok and [s.summary for s in found] == [f"{PEER6} > {ME6} ICMP icmp6-adm-prohibited (for :5000 > :7000)"]
    ok, _, found = evidence.explain_one("EHOSTUNREACH", CONN6, segments, end=2.0)
    assert ok and [s.nd for s in found] == ["solicitation"]   # nothing answered the solicitation in this capture
