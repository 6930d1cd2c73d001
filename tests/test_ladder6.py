"""An IPv6 run drawn: its packets parsed from a pcap built in memory, written to a record as
result.json holds them, and drawn as the text and SVG ladders and the wire summary: ICMPv6 arrows
between the hosts, neighbour discovery left out unless all packets are asked for, as ARP is."""

import html
import re

from lab import packets, wire
from lab.record import RunRecord
from lab.reports import ladder
from pcaps import Frame, Pkt, build, icmp6_frame, na_frame, ns_frame

CLIENT, SERVER = "fd7a:b0f1:9e2d:ffff::3", "fd7a:b0f1:9e2d:ffff::2"
ADDRESSES = {"server": SERVER, "client": CLIENT}
SYN = Pkt(1.0, CLIENT, SERVER, 40000, 7000, ("SYN",), seq=77)
PCAP = build([Frame(0.99, ns_frame(CLIENT, SERVER)), Frame(0.995, na_frame(SERVER, CLIENT)), SYN,
              Frame(1.001, icmp6_frame(SERVER, CLIENT, 1, 1, quoting=SYN)),
              Frame(1.002, icmp6_frame(SERVER, CLIENT, 3, 1, quoting=SYN)),
              Frame(1.003, icmp6_frame(SERVER, CLIENT, 2, 0, quoting=SYN, word=1280))])
SEGMENTS = packets.parse(PCAP, set(ADDRESSES.values()))
EACCES = f"{SERVER} > {CLIENT} ICMP icmp6-adm-prohibited (for :40000 > :7000)"


def record():
    return RunRecord.from_dict({
        "complete": True, "run_id": "r", "scenario": {"name": "x", "summary": "s", "story": "s",
                                                      "hosts": ["server", "client"]},
        "addresses": ADDRESSES,
        "observations": [{"step": 1, "outcome": "EACCES", "start": 0.9, "end": 1.01,
                          "event": {"op": "connect", "local": [CLIENT, 40000], "peer": [SERVER, 7000]}}],
        "packets": {"client": [s.as_dict() for s in SEGMENTS]},
        "verdict": {"status": "passed", "passed": True,
                    "steps": [{"number": 1, "host": "client", "action": "connect to=server port=7000",
                               "expected": ["EACCES"], "observed": "EACCES", "why": "", "passed": True}],
                    "rules": [], "evidence": [{"step": 1, "outcome": "EACCES", "explained": True, "because": "b",
                                               "packets": [EACCES], "seen_at": "client"}]},
    })


def test_the_record_keeps_what_was_parsed():
    assert record().packets["client"] == tuple(SEGMENTS)
    assert [s.nd or s.icmp or s.flags for s in SEGMENTS] == [
        "solicitation", "advertisement", ("SYN",), "icmp6-adm-prohibited", "icmp6-reassembly-time-exceeded",
        "icmp6-packet-too-big"]


def test_text_ladder_draws_icmpv6_arrows_and_leaves_neighbour_discovery_out_unless_asked():
    text = ladder.text(record())
    assert "ND " not in text
    icmp_lines = [line for line in text.splitlines() if "icmp6-" in line]
    assert len(icmp_lines) == 3 and all(re.search(r"\|-+ICMP-+>\|", line) for line in icmp_lines)  # server → client
    assert "ICMP icmp6-adm-prohibited (for :40000 > :7000)   ← explains step 1" in text
    everything = ladder.text(record(), include_noise=True)
    assert f"ND solicitation {CLIENT} > {SERVER}" in everything
    assert f"ND advertisement {SERVER} > {CLIENT}" in everything


def arrows(svg):
    found = re.findall(r'<g class="([^"]*)"[^>]*><title>([^<]*)</title>.*?<text[^>]*>([^<]*)</text>', svg)
    return [tuple(map(html.unescape, texts)) for texts in found]


def test_svg_draws_icmpv6_arrows_with_labels_that_fit_between_the_hosts():
    drawn = arrows(ladder.svg(record()))
    assert [(cls, label) for cls, _, label in drawn] == [
        ("arrow", "SYN"), ("arrow icmp", "ICMP icmp6-adm-prohibited"),
        ("arrow icmp", "icmp6-reassembly-time-exceeded"), ("arrow icmp", "ICMP icmp6-packet-too-big")]
    assert all(len(label) * ladder.CHAR <= ladder.COL for _, _, label in drawn)
    assert drawn[3][1] == "ICMP icmp6-packet-too-big mtu=1280 (for :40000 > :7000)"   # the whole of it as title
    assert 'data-explains="1"' in ladder.svg(record())


def test_svg_draws_neighbour_discovery_only_with_all_packets_and_short():
    drawn = arrows(ladder.svg(record(), include_noise=True))
    assert [(cls, label) for cls, _, label in drawn[:2]] == [("arrow icmp", "ND solicitation"),
                                                             ("arrow icmp", "ND advertisement")]
    assert "neighbour discovery are left out" in ladder.page(record())


def test_wire_summary_counts_icmpv6_by_name_and_leaves_neighbour_discovery_out():
    rows = wire.summarize(SEGMENTS, ADDRESSES)
    assert [(r["direction"], r["packets"], r["SYN"], r["icmp"]) for r in rows] == [
        ("client→server", 1, 1, {}),
        ("server→client", 3, 0, {"icmp6-adm-prohibited": 1, "icmp6-reassembly-time-exceeded": 1,
                                 "icmp6-packet-too-big mtu=1280": 1})]
