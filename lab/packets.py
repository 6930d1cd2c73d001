"""pcap bytes → Segments: the only module that knows dpkt.

Only IPv4 TCP between the lab's own hosts are kept; the bridge's
own address (which sends IGMP), ARP and IPv6 neighbour traffic are noise to
the evidence and are dropped here.

    >>> Segment(ts=0.0, src="a", dst="b", sport=1, dport=2, flags=("RST", "ACK"),
    ...         seq=1, ack=1, length=0).summary
    'a:1 > b:2 RST+ACK seq=1 ack=1 len=0'
"""

import io
import socket
from dataclasses import asdict, dataclass

import dpkt

FLAG_BITS = [("SYN", dpkt.tcp.TH_SYN), ("ACK", dpkt.tcp.TH_ACK), ("FIN", dpkt.tcp.TH_FIN),
             ("RST", dpkt.tcp.TH_RST), ("PSH", dpkt.tcp.TH_PUSH)]


@dataclass(frozen=True)
class Segment:
    ts: float             # CLOCK_REALTIME, as tcpdump stamps it
    src: str
    dst: str
    sport: int
    dport: int
    flags: tuple
    seq: int
    ack: int
    length: int           # payload bytes

    @property
    def summary(self):
        return (f"{self.src}:{self.sport} > {self.dst}:{self.dport} {'+'.join(self.flags)} "
                f"seq={self.seq} ack={self.ack} len={self.length}")

    def as_dict(self):
        return {**asdict(self), "summary": self.summary}


def parse(pcap, addresses):
    """Segments in a pcap whose both ends are in `addresses`, in capture order."""
    segments = []
    reader = dpkt.pcap.Reader(io.BytesIO(pcap))
    for ts, frame in reader:
        eth = dpkt.ethernet.Ethernet(frame)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        src, dst = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
        if src not in addresses or dst not in addresses:
            continue
        tcp = ip.data
        # with a snap length the payload may be cut: the IP header still says how much there was
        length = ip.len - ip.hl * 4 - tcp.off * 4
        segments.append(Segment(
            ts=float(ts), src=src, dst=dst, sport=tcp.sport, dport=tcp.dport,
            flags=tuple(name for name, bit in FLAG_BITS if tcp.flags & bit),
            seq=tcp.seq, ack=tcp.ack, length=length,
        ))
    return segments
