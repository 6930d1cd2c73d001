"""What crossed the wire, counted per direction: the packet analysis behind every scenario.

    >>> from lab.packets import Segment
    >>> seg = Segment(ts=0, src="10.0.0.2", dst="10.0.0.3", sport=1, dport=2, flags=("SYN",), seq=0, ack=0, length=0)
    >>> rows = summarize([seg, seg], {"client": "10.0.0.2", "server": "10.0.0.3"})
    >>> rows[0]["direction"], rows[0]["SYN"]
    ('client→server', 2)

Address resolution (ARP, IPv6 neighbour discovery) is not counted; ICMPv6 is, by name (a
packet-too-big with its MTU):

    >>> ns = Segment(ts=0, src="fd00::2", dst="fd00::3", sport=0, dport=0, flags=(), seq=0, ack=0, length=0,
    ...              nd="solicitation")
    >>> big = Segment(ts=0, src="fd00::3", dst="fd00::2", sport=2, dport=1, flags=(), seq=0, ack=0, length=0,
    ...               icmp="icmp6-packet-too-big", mtu=1280)
    >>> [(r["direction"], r["packets"], r["icmp"]) for r in summarize([ns, big], {"client": "fd00::2"})]
    [('fd00::3→client', 1, {'icmp6-packet-too-big mtu=1280': 1})]
"""

from collections import Counter

from lab.record import host_of

COUNTED = ("SYN", "FIN", "RST")


def summarize(segments, addresses):
    """[{direction, packets, SYN, FIN, RST, data, retransmitted, icmp}] in order of first appearance.

    addresses: {host name: address}; an address of no lab host stands for itself.
    """
    rows = {}
    for s in (s for s in segments if not s.neighbour):
        direction = f"{host_of(s.src, addresses) or s.src}→{host_of(s.dst, addresses) or s.dst}"
        row = rows.setdefault(direction, {"direction": direction, "packets": 0, **dict.fromkeys(COUNTED, 0),
                                          "data": 0, "retransmitted": 0, "icmp": Counter()})
        row["packets"] += 1
        for flag in COUNTED:
            row[flag] += flag in s.flags
        row["data"] += s.length > 0
        row["retransmitted"] += s.retransmission
        if s.icmp:
            row["icmp"][s.icmp if s.mtu is None else f"{s.icmp} mtu={s.mtu}"] += 1
    return [{**row, "icmp": dict(row["icmp"])} for row in rows.values()]
