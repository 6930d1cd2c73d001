"""packets.parse on pcaps built in memory: flags, payload lengths, the address filter."""

import pytest

from lab import packets
from pcaps import BRIDGE, Pkt, build

SERVER, CLIENT, STRANGER = "10.0.0.2", "10.0.0.3", "10.0.0.9"
ADDRESSES = {SERVER, CLIENT}


def parse_one(pkt):
    (segment,) = packets.parse(build([pkt]), ADDRESSES)
    return segment


@pytest.mark.parametrize("flags, expected", [
    (("SYN",), ("SYN",)),
    (("SYN", "ACK"), ("SYN", "ACK")),
    (("ACK", "SYN"), ("SYN", "ACK")),         # always in the FLAG_BITS order
    (("FIN", "ACK"), ("ACK", "FIN")),
    (("RST",), ("RST",)),
    (("RST", "ACK"), ("ACK", "RST")),
    (("PSH", "ACK"), ("ACK", "PSH")),
    ((), ()),
])
def test_flags(flags, expected):
    assert parse_one(Pkt(1.0, CLIENT, SERVER, 40000, 7000, flags)).flags == expected


def test_fields_and_summary():
    s = parse_one(Pkt(12.25, CLIENT, SERVER, 40000, 7000, ("PSH", "ACK"), length=100, seq=7, ack=9))
    assert (s.ts, s.src, s.dst, s.sport, s.dport, s.seq, s.ack, s.length) == \
        (12.25, CLIENT, SERVER, 40000, 7000, 7, 9, 100)
    assert s.summary == f"{CLIENT}:40000 > {SERVER}:7000 ACK+PSH seq=7 ack=9 len=100"
    assert s.as_dict()["summary"] == s.summary


@pytest.mark.parametrize("length", [0, 1, 100, 1448])
def test_length_is_payload_bytes(length):
    assert parse_one(Pkt(1.0, SERVER, CLIENT, 7000, 40000, ("ACK",), length=length)).length == length


@pytest.mark.parametrize("length, captured", [(100, 0), (100, 10), (1448, 14), (1448, 1447)])
def test_length_counts_what_the_snap_length_cut(length, captured):
    pcap = build([Pkt(1.0, SERVER, CLIENT, 7000, 40000, ("PSH", "ACK"), length=length, captured=captured)],
                 snaplen=96)
    (segment,) = packets.parse(pcap, ADDRESSES)
    assert segment.length == length
    assert segment.flags == ("ACK", "PSH")


def test_noise_is_dropped_and_order_kept():
    pcap = build([
        Pkt(1.0, CLIENT, SERVER, 40000, 7000, ("SYN",)),
        Pkt(1.1, STRANGER, SERVER, 50000, 7000, ("SYN",)),   # not one of the lab's hosts
        Pkt(1.2, SERVER, STRANGER, 7000, 50000, ("RST", "ACK")),
        Pkt(1.3, BRIDGE, SERVER, 50000, 7000, ("SYN",)),      # the bridge's own address
        Pkt(1.4, SERVER, CLIENT, 7000, 40000, ("SYN", "ACK")),
    ], noise=True)
    segments = packets.parse(pcap, ADDRESSES)
    assert [(s.ts, s.src, s.flags, s.arp) for s in segments] == [
        (0.5, SERVER, (), "request"), (1.0, CLIENT, ("SYN",), None), (1.4, SERVER, ("SYN", "ACK"), None)]


def test_noise_only_gives_only_the_arp_between_lab_hosts():
    (arp,) = packets.parse(build([], noise=True), ADDRESSES | {BRIDGE})
    assert (arp.arp, arp.src, arp.dst, arp.tcp) == ("request", SERVER, CLIENT, False)


def test_empty_address_set_keeps_nothing():
    assert packets.parse(build([Pkt(1.0, CLIENT, SERVER, 40000, 7000, ("SYN",))]), set()) == []


def test_a_routers_forwarded_copy_is_kept_once_but_a_real_retransmission_is_kept():
    hop = dict(src="10.0.0.10", dst="10.0.0.12", sport=40000, dport=7000, flags=("SYN",), ip_id=7)
    pcap = build([Pkt(1.0, ttl=64, **hop), Pkt(1.0001, ttl=63, **hop),       # in, and out one hop older
                  Pkt(2.0, ttl=64, **{**hop, "ip_id": 8})])                  # the SYN sent again
    segments = packets.parse(pcap, {"10.0.0.10", "10.0.0.12"})
    assert [s.retransmission for s in segments] == [False, True]
