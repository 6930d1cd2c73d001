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
