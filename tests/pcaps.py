"""Build pcap bytes in memory for packets.parse, from simple packet descriptions.

    >>> data = build([Pkt(1.0, "10.0.0.2", "10.0.0.3", 40000, 7000, ("SYN",))])
    >>> data[:4] in (b"\\xd4\\xc3\\xb2\\xa1", b"\\xa1\\xb2\\xc3\\xd4")
    True
"""

import io
import socket
from dataclasses import dataclass

import dpkt

BRIDGE = "10.0.0.1"  # the bridge's own address: it sends IGMP, never TCP of ours
FLAGS = {"SYN": dpkt.tcp.TH_SYN, "ACK": dpkt.tcp.TH_ACK, "FIN": dpkt.tcp.TH_FIN,
         "RST": dpkt.tcp.TH_RST, "PSH": dpkt.tcp.TH_PUSH}
MAC_A, MAC_B = b"\x02\x42\x0a\x00\x00\x02", b"\x02\x42\x0a\x00\x00\x03"


@dataclass(frozen=True)
class Pkt:
    ts: float
    src: str
    dst: str
    sport: int
    dport: int
    flags: tuple = ()
    length: int = 0          # payload bytes the IP header says there are
    captured: int | None = None  # payload bytes actually in the frame (snap length); None: all
    seq: int = 1000
    ack: int = 0
    ttl: int = 64
    ip_id: int = 0


def tcp_frame(p):
    """An Ethernet/IPv4/TCP frame; with p.captured set, ip.len still counts the whole payload."""
    flags = 0
    for name in p.flags:
        flags |= FLAGS[name]
    tcp = dpkt.tcp.TCP(sport=p.sport, dport=p.dport, seq=p.seq, ack=p.ack, flags=flags,
                       win=64240, data=b"x" * p.length)
    ip = dpkt.ip.IP(src=socket.inet_aton(p.src), dst=socket.inet_aton(p.dst), p=dpkt.ip.IP_PROTO_TCP,
                    ttl=p.ttl, id=p.ip_id, data=tcp)
    ip.len = len(ip)  # fixes the total length before any cut, as the sender's header said
    frame = bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))
    if p.captured is not None:
        frame = frame[:len(frame) - (p.length - p.captured)]
    return frame


def arp_frame():
    """A non-IP frame: an ARP request for the second host, broadcast."""
    arp = dpkt.arp.ARP(sha=MAC_A, spa=socket.inet_aton("10.0.0.2"), tha=b"\x00" * 6,
                       tpa=socket.inet_aton("10.0.0.3"), op=dpkt.arp.ARP_OP_REQUEST)
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=b"\xff" * 6, type=dpkt.ethernet.ETH_TYPE_ARP, data=arp))


def igmp_frame(src=BRIDGE):
    """An IP frame that is not TCP: an IGMP report from the bridge's address."""
    igmp = dpkt.igmp.IGMP(type=0x16, group=socket.inet_aton("224.0.0.251"))
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton("224.0.0.251"),
                    p=dpkt.ip.IP_PROTO_IGMP, ttl=1, data=igmp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=b"\x01\x00\x5e\x00\x00\xfb",
                                        type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def build(packets, noise=False, snaplen=65535):
    """pcap bytes holding `packets` (Pkt) in order; with noise, an ARP and an IGMP frame first."""
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, snaplen=snaplen, linktype=dpkt.pcap.DLT_EN10MB)
    if noise:
        writer.writepkt(arp_frame(), ts=0.5)
        writer.writepkt(igmp_frame(), ts=0.6)
    for p in packets:
        writer.writepkt(tcp_frame(p), ts=p.ts)
    return out.getvalue()
