"""What crossed the wire, counted per direction: the packet analysis behind every scenario.

    >>> from lab.packets import Segment
    >>> seg = Segment(ts=0, src="10.0.0.2", dst="10.0.0.3", sport=1, dport=2, flags=("SYN",), seq=0, ack=0, length=0)
    >>> rows = summarize([seg, seg], {"client": "10.0.0.2", "server": "10.0.0.3"})
    >>> rows[0]["direction"], rows[0]["SYN"]
    ('client→server', 2)
"""

from collections import Counter

from lab.record import host_of

COUNTED = ("SYN", "FIN", "RST")


def summarize(segments, addresses):
    """[{direction, packets, SYN, FIN, RST, data, retransmitted, icmp}] in order of first appearance.

    addresses: {host name: address}; an address of no lab host stands for itself.
    """
    rows = {}
    for s in (s for s in segments if not s.arp):
        direction = f"{host_of(s.src, addresses) or s.src}→{host_of(s.dst, addresses) or s.dst}"
        row = rows.setdefault(direction, {"direction": direction, "packets": 0, **dict.fromkeys(COUNTED, 0),
                                          "data": 0, "retransmitted": 0, "icmp": Counter()})
        row["packets"] += 1
        for flag in COUNTED:
            row[flag] += flag in s.flags
        row["data"] += s.length > 0
        row["retransmitted"] += s.retransmission
        if s.icmp:
            row["icmp"][s.icmp] += 1
    return [{**row, "icmp": dict(row["icmp"])} for row in rows.values()]
