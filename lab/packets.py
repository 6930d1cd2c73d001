"""pcap bytes → Segments: the only module that knows dpkt.

Only IPv4 TCP and ICMP, and ARP, between the lab's own hosts are kept (ARP
explains a "No route to host" with no ICMP); the bridge's own address (which
sends IGMP) and IPv6 neighbour traffic are noise to the evidence and are
dropped here.

    >>> Segment(ts=0.0, src="a", dst="b", sport=1, dport=2, flags=("RST", "ACK"),
    ...         seq=1, ack=1, length=0).summary
    'a:1 > b:2 RST+ACK seq=1 ack=1 len=0'
"""

import io
import socket
import struct
from dataclasses import asdict, dataclass

import dpkt

# ICMP destination-unreachable codes a REJECT can send (RFC 792, RFC 1812)
ICMP_NAMES = {(3, 0): "net-unreachable", (3, 1): "host-unreachable", (3, 3): "port-unreachable",
              (3, 10): "host-prohibited", (3, 9): "net-prohibited", (3, 13): "admin-prohibited"}

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
    icmp: str | None = None        # for ICMP: its name; ports and seq are the quoted TCP segment's
    retransmission: bool = False   # repeats sequence space this flow already sent
    keepalive: bool = False        # a keepalive probe: seq one below what was sent, no new data
    arp: str | None = None         # for ARP: "request" or "reply"; src/dst are the protocol addresses

    @property
    def tcp(self):
        return self.icmp is None and self.arp is None

    @property
    def summary(self):
        if self.arp:
            return f"ARP {self.arp} {self.src} > {self.dst}"
        if self.icmp:
            return f"{self.src} > {self.dst} ICMP {self.icmp} (for :{self.sport} > :{self.dport})"
        return (f"{self.src}:{self.sport} > {self.dst}:{self.dport} {'+'.join(self.flags)} "
                f"seq={self.seq} ack={self.ack} len={self.length}" + (" retransmission" if self.retransmission else "")
                + (" keepalive" if self.keepalive else ""))

    def as_dict(self):
        return {**asdict(self), "summary": self.summary}


def count(pcap):
    """How many frames a pcap holds (noise included)."""
    return sum(1 for _ in dpkt.pcap.Reader(io.BytesIO(pcap)))


def icmp_segment(ts, src, dst, icmp):
    """An ICMP error, carrying the ports and sequence number of the TCP segment it quotes."""
    name = ICMP_NAMES.get((icmp.type, icmp.code), f"type {icmp.type} code {icmp.code}")
    sport = dport = seq = 0
    quoted = getattr(icmp.data, "data", None)  # ICMP.Unreach -> the quoted IP header and 8 bytes
    if isinstance(quoted, dpkt.ip.IP) and len(bytes(quoted.data)) >= 8:
        sport, dport, seq = struct.unpack(">HHI", bytes(quoted.data)[:8])
    return Segment(ts=ts, src=src, dst=dst, sport=sport, dport=dport, flags=(), seq=seq, ack=0,
                   length=0, icmp=name)


def parse(pcap, addresses):
    """Segments in a pcap whose both ends are in `addresses`, in capture order."""
    segments = []
    sent = {}  # flow -> (first seq, end of the sequence space sent so far, relative)
    arrived = {}  # (ip id, header bytes past the TTL) -> TTL: to spot a router's forwarded copy
    reader = dpkt.pcap.Reader(io.BytesIO(pcap))
    for ts, frame in reader:
        ip = dpkt.ethernet.Ethernet(frame).data
        if isinstance(ip, dpkt.arp.ARP):
            src, dst = socket.inet_ntoa(ip.spa), socket.inet_ntoa(ip.tpa)
            if src in addresses and dst in addresses and ip.op in (dpkt.arp.ARP_OP_REQUEST, dpkt.arp.ARP_OP_REPLY):
                segments.append(Segment(ts=float(ts), src=src, dst=dst, sport=0, dport=0, flags=(), seq=0,
                                        ack=0, length=0, arp="request" if ip.op == dpkt.arp.ARP_OP_REQUEST else "reply"))
            continue
        if not isinstance(ip, dpkt.ip.IP):
            continue
        # A router captures each packet it forwards twice on one interface: as it came in
        # and as it went out, one hop older. Keep the first.
        key = (ip.id, ip.src, ip.dst, bytes(ip.data)[:16])
        if arrived.get(key) == ip.ttl + 1:
            continue
        arrived[key] = ip.ttl
        src, dst = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
        if src not in addresses or dst not in addresses:
            continue
        if isinstance(ip.data, dpkt.icmp.ICMP):
            segments.append(icmp_segment(float(ts), src, dst, ip.data))
            continue
        if not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        # with a snap length the payload may be cut: the IP header still says how much there was
        length = ip.len - ip.hl * 4 - tcp.off * 4
        flags = tuple(name for name, bit in FLAG_BITS if tcp.flags & bit)
        used = length + ("SYN" in flags) + ("FIN" in flags)  # sequence space this segment takes
        flow = (src, tcp.sport, dst, tcp.dport)
        first, end = sent.get(flow, (tcp.seq, 0))
        offset = (tcp.seq - first) % 2**32
        probe = (flow in sent and length <= 1 and end >= 1 and offset == end - 1
                 and not set(flags) & {"SYN", "FIN", "RST"})
        again = used > 0 and flow in sent and offset < end and not probe
        if used > 0 and "RST" not in flags and not probe:
            sent[flow] = (first, max(end, offset + used))
        segments.append(Segment(
            ts=float(ts), src=src, dst=dst, sport=tcp.sport, dport=tcp.dport, flags=flags,
            seq=tcp.seq, ack=tcp.ack, length=length, retransmission=again, keepalive=probe,
        ))
    return segments
