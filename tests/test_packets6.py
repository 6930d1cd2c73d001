"""packets.parse on IPv6 pcaps built in memory: TCP, ICMPv6 errors quoting a segment, neighbour
discovery as address resolution, the router's second copy by hop limit, and the noise dropped."""

from pathlib import Path

import pytest

from lab import evidence, packets
from lab.record import Connection
from lab.record import segment as recorded_segment
from pcaps import (MAC_A, Frame, Pkt, build, icmp6_frame, ip6_packet, mld_frame, na_frame, ns_frame, rs_frame,
                   tcp_frame, tcp_segment)

SERVER, CLIENT, STRANGER = "fd7a:b0f1:9e2d:ffff::2", "fd7a:b0f1:9e2d:ffff::3", "fd7a:b0f1:9e2d:ffff::9"
ADDRESSES = {SERVER, CLIENT}
SYN = Pkt(1.0, CLIENT, SERVER, 40000, 7000, ("SYN",), seq=123456)
OTHER_MAC = b"\x02\x42\x0a\x00\x00\x09"


def parse(*items, addresses=ADDRESSES, snaplen=65535):
    return packets.parse(build(list(items), snaplen=snaplen), addresses)


def test_tcp_over_ipv6_fields_and_summary():
    (s,) = parse(Pkt(12.25, CLIENT, SERVER, 40000, 7000, ("PSH", "ACK"), length=100, seq=7, ack=9))
    assert (s.ts, s.src, s.dst, s.sport, s.dport, s.flags, s.seq, s.ack, s.length, s.tcp) == \
        (12.25, CLIENT, SERVER, 40000, 7000, ("ACK", "PSH"), 7, 9, 100, True)
    assert s.summary == f"[{CLIENT}]:40000 > [{SERVER}]:7000 ACK+PSH seq=7 ack=9 len=100"
    assert "nd" not in s.as_dict() and "mtu" not in s.as_dict()


@pytest.mark.parametrize("length, captured", [(100, 0), (100, 10), (1448, 14), (1448, 1447)])
def test_length_comes_from_the_payload_length_when_the_snap_length_cut_it(length, captured):
    (s,) = parse(Pkt(1.0, SERVER, CLIENT, 7000, 40000, ("PSH", "ACK"), length=length, captured=captured),
                 snaplen=96)
    assert (s.length, s.flags) == (length, ("ACK", "PSH"))


def test_an_extension_header_before_tcp_is_not_counted_as_payload():
    p = Pkt(1.0, CLIENT, SERVER, 40000, 7000, ("PSH", "ACK"), length=30)
    packet = ip6_packet(CLIENT, SERVER, 6, bytes(tcp_segment(p)), hop_by_hop=True)
    (s,) = parse(Frame(1.0, tcp_frame(p)[:14] + packet))
    assert (s.length, s.sport, s.flags) == (30, 40000, ("ACK", "PSH"))


def flow(a, b):
    """The same conversation in either family: data, a retransmission, a keepalive probe, a SYN again."""
    return [Pkt(1.0, a, b, 40000, 7000, ("SYN",), seq=100), Pkt(1.1, a, b, 40000, 7000, ("ACK",), seq=101),
            Pkt(1.2, a, b, 40000, 7000, ("PSH", "ACK"), length=50, seq=101),
            Pkt(1.5, a, b, 40000, 7000, ("PSH", "ACK"), length=50, seq=101),     # sent again
            Pkt(9.0, a, b, 40000, 7000, ("ACK",), seq=150),                       # keepalive probe
            Pkt(9.1, b, a, 7000, 40000, ("ACK",), seq=500)]


def test_retransmissions_and_keepalives_are_found_as_in_ipv4():
    v4 = packets.parse(build(flow("10.0.0.3", "10.0.0.2")), {"10.0.0.2", "10.0.0.3"})
    v6 = parse(*flow(CLIENT, SERVER))
    marks = [[(s.flags, s.length, s.retransmission, s.keepalive) for s in segments] for segments in (v4, v6)]
    assert marks[0] == marks[1]
    assert [s.retransmission for s in v6] == [False, False, False, True, False, False]
    assert [s.keepalive for s in v6] == [False, False, False, False, True, False]


def test_a_routers_forwarded_copy_is_kept_once_by_hop_limit_but_a_real_retransmission_is_kept():
    hop = dict(src=CLIENT, dst="fd7a:b0f1:9e2d:fffe::2", sport=40000, dport=7000, flags=("SYN",))
    segments = parse(Pkt(1.0, ttl=64, **hop), Pkt(1.0001, ttl=63, **hop),     # in, and out one hop older
                     Pkt(2.0, ttl=64, **hop), Pkt(2.0001, ttl=63, **hop),      # the SYN sent again, forwarded
                     addresses={CLIENT, "fd7a:b0f1:9e2d:fffe::2"})
    assert [(s.ts, s.retransmission) for s in segments] == [(1.0, False), (2.0, True)]


def test_two_hops_of_difference_are_not_a_routers_copy():
    hop = dict(src=CLIENT, dst=SERVER, sport=40000, dport=7000, flags=("SYN",))
    assert len(parse(Pkt(1.0, ttl=64, **hop), Pkt(1.0001, ttl=62, **hop))) == 2


@pytest.mark.parametrize("kind, code, name", [
    (1, 0, "icmp6-no-route"), (1, 1, "icmp6-adm-prohibited"), (1, 2, "icmp6-beyond-scope"),
    (1, 3, "icmp6-addr-unreachable"), (1, 4, "icmp6-port-unreachable"), (1, 5, "icmp6-policy-fail"),
    (1, 6, "icmp6-reject-route"), (3, 0, "icmp6-time-exceeded"), (3, 1, "icmp6-reassembly-time-exceeded"),
    (1, 9, "icmp6 type 1 code 9"),
])
def test_an_icmpv6_error_is_named_and_quotes_the_segments_ports_and_seq(kind, code, name):
    (s,) = parse(Frame(1.0, icmp6_frame(SERVER, CLIENT, kind, code, quoting=SYN)))
    assert (s.icmp, s.src, s.dst, s.sport, s.dport, s.seq, s.tcp, s.mtu) == \
        (name, SERVER, CLIENT, 40000, 7000, 123456, False, None)
    assert s.summary == f"{SERVER} > {CLIENT} ICMP {name} (for :40000 > :7000)"


def test_an_echo_between_lab_hosts_is_kept_as_ipv4_keeps_one_and_other_informational_icmpv6_is_not():
    (echo,) = parse(Frame(1.0, icmp6_frame(CLIENT, SERVER, 128, 0, word=0x00010001)),
                    Frame(1.1, icmp6_frame(CLIENT, SERVER, 137, 0)))             # a redirect: never ours
    assert (echo.icmp, echo.sport, echo.dport, echo.tcp) == ("icmp6 type 128 code 0", 0, 0, False)


def test_no_icmpv6_name_is_an_ipv4_name():
    assert not set(packets.ICMP6_NAMES.values()) & set(packets.ICMP_NAMES.values())
    assert all(name.startswith("icmp6-") for name in packets.ICMP6_NAMES.values())


def test_packet_too_big_carries_its_mtu():
    (s,) = parse(Frame(1.0, icmp6_frame(SERVER, CLIENT, 2, 0, quoting=SYN, word=1280)))
    assert (s.icmp, s.mtu, s.sport, s.seq) == ("icmp6-packet-too-big", 1280, 40000, 123456)
    assert s.summary == f"{SERVER} > {CLIENT} ICMP icmp6-packet-too-big mtu=1280 (for :40000 > :7000)"
    assert s.as_dict()["mtu"] == 1280 and recorded_segment(s.as_dict()) == s


@pytest.mark.parametrize("quote, ports", [(48, (40000, 7000, 123456)), (44, (0, 0, 0)), (20, (0, 0, 0))])
def test_a_short_quote_gives_the_ports_it_holds_or_none(quote, ports):
    (s,) = parse(Frame(1.0, icmp6_frame(SERVER, CLIENT, 1, 4, quoting=SYN, quote=quote)))
    assert (s.icmp, (s.sport, s.dport, s.seq)) == ("icmp6-port-unreachable", ports)


def test_neighbour_solicitation_and_advertisement_are_address_resolution():
    ask, answer = parse(Frame(1.0, ns_frame(CLIENT, SERVER)), Frame(1.001, na_frame(SERVER, CLIENT)))
    assert (ask.nd, ask.src, ask.dst, ask.tcp, ask.neighbour) == ("solicitation", CLIENT, SERVER, False, True)
    assert (answer.nd, answer.src, answer.dst) == ("advertisement", SERVER, CLIENT)
    assert ask.summary == f"ND solicitation {CLIENT} > {SERVER}"
    assert ask.as_dict()["nd"] == "solicitation" and recorded_segment(ask.as_dict()) == ask


def test_a_unicast_solicitation_checking_a_neighbour_is_kept_too():
    (s,) = parse(Frame(1.0, ns_frame(CLIENT, SERVER, dst=SERVER)))
    assert (s.nd, s.src, s.dst) == ("solicitation", CLIENT, SERVER)


def test_a_neighbour_probe_from_a_link_local_address_is_known_by_its_ethernet_address():
    """Linux probes a neighbour it has a connection to (NUD) from its link-local address, and the
    answer goes back there: the MAC that sent CLIENT's segments says it was CLIENT."""
    probe, answer, _ = parse(Frame(0.5, ns_frame("fe80::42:aff:fe00:3", SERVER, dst=SERVER)),
                             Frame(0.6, na_frame(SERVER, "fe80::42:aff:fe00:3", to=MAC_A)), SYN)
    assert (probe.nd, probe.src, probe.dst) == ("solicitation", CLIENT, SERVER)
    assert (answer.nd, answer.src, answer.dst) == ("advertisement", SERVER, CLIENT)
    (unknown,) = parse(Frame(0.5, ns_frame("fe80::42:aff:fe00:3", SERVER, mac=OTHER_MAC)), SYN)
    assert unknown.tcp


def test_noise_is_dropped_and_order_kept():
    segments = parse(
        Frame(0.1, mld_frame()), Frame(0.2, rs_frame()),
        Frame(0.3, ns_frame("fe80::42:aff:fe00:9", SERVER, mac=OTHER_MAC)),  # link-local, of no lab host
        Frame(0.4, ns_frame(CLIENT, STRANGER)),                         # for no lab host
        Frame(0.5, na_frame(SERVER, "ff02::1")),                        # unsolicited, to all nodes
        Pkt(1.0, CLIENT, SERVER, 40000, 7000, ("SYN",)),
        Pkt(1.1, STRANGER, SERVER, 50000, 7000, ("SYN",)),
        Frame(1.2, icmp6_frame(SERVER, STRANGER, 1, 4, quoting=SYN)),
        Pkt(1.3, SERVER, CLIENT, 7000, 40000, ("SYN", "ACK")),
    )
    assert [(s.ts, s.src, s.flags) for s in segments] == [(1.0, CLIENT, ("SYN",)), (1.3, SERVER, ("SYN", "ACK"))]


def test_ipv4_and_ipv6_in_one_capture():
    segments = parse(Pkt(1.0, "10.0.0.3", "10.0.0.2", 40000, 7000, ("SYN",)), SYN,
                     addresses=ADDRESSES | {"10.0.0.2", "10.0.0.3"})
    assert [s.src for s in segments] == ["10.0.0.3", CLIENT]


def test_addresses_are_compared_in_canonical_form():
    (s,) = parse(SYN, addresses={"FD7A:B0F1:9E2D:FFFF:0:0:0:3", "fd7a:b0f1:9e2d:ffff:0000::2"})
    assert (s.src, s.dst) == (CLIENT, SERVER)


# ---- a real capture: Linux 6.18's own IPv6, ICMPv6 and neighbour discovery ----
# tests/data/ipv6-rejects/client.pcap: 25 frames tcpdump took on the client's veth, between two
# network namespaces (client fd7a:b0f1:9e2d:ffff::1, server ::2, nodad); the server's ip6tables
# REJECTed ports 7002-7007 with icmp6-adm-prohibited, -no-route, -addr-unreachable,
# -port-unreachable, -policy-fail, -reject-route, 7001 had no listener, ::9 was no host. CONNECTS holds
# what each of the client's connect()s returned there, from its local port.

REAL = Path(__file__).resolve().parent / "data" / "ipv6-rejects" / "client.pcap"
A, B, NOBODY = "fd7a:b0f1:9e2d:ffff::1", "fd7a:b0f1:9e2d:ffff::2", "fd7a:b0f1:9e2d:ffff::9"
CONNECTS = [(B, 7001, 44915, "ECONNREFUSED"), (B, 7002, 51611, "EACCES"), (B, 7003, 39261, "ENETUNREACH"),
            (B, 7004, 35825, "EHOSTUNREACH"), (B, 7005, 49535, "ECONNREFUSED"), (B, 7006, 32991, "EACCES"),
            (B, 7007, 40183, "EACCES"), (NOBODY, 7000, 49741, "EHOSTUNREACH")]


def test_a_real_capture_parses_into_icmpv6_rejects_and_neighbour_discovery():
    segments = packets.parse(REAL.read_bytes(), {A, B, NOBODY})
    assert packets.count(REAL.read_bytes()) == 25 and len(segments) == 23   # an MLD report and an RS dropped
    assert [s.icmp for s in segments if s.icmp] == [
        "icmp6-adm-prohibited", "icmp6-adm-prohibited", "icmp6-no-route", "icmp6-addr-unreachable",
        "icmp6-port-unreachable", "icmp6-policy-fail", "icmp6-reject-route"]
    assert all(s.src == B and s.dst == A and (s.dport, s.seq) != (0, 0) for s in segments if s.icmp)
    assert [(s.nd, s.src, s.dst) for s in segments if s.nd] == [
        ("solicitation", A, B), ("advertisement", B, A),
        ("solicitation", B, A), ("advertisement", A, B),     # the server's probe, from its link-local address
        ("solicitation", A, NOBODY), ("solicitation", A, NOBODY), ("solicitation", A, NOBODY)]
    assert [s.retransmission for s in segments if s.tcp and s.dport == 7002] == [False, True]


@pytest.mark.parametrize("peer, port, local, errno", CONNECTS)
def test_each_real_connects_errno_is_explained_by_the_real_capture(peer, port, local, errno):
    segments = packets.parse(REAL.read_bytes(), {A, B, NOBODY})
    ok, because, found = evidence.explain_one(errno, Connection(1, "client", "s", (A, local), (peer, port)),
                                              segments, end=float("inf"))
    assert ok, because
    assert found[0].nd == "solicitation" if peer == NOBODY else {found[0].sport, found[0].dport} == {port, local}
