"""Build pcap bytes in memory for packets.parse, from simple packet descriptions.

    >>> data = build([Pkt(1.0, "10.0.0.2", "10.0.0.3", 40000, 7000, ("SYN",))])
    >>> data[:4] in (b"\\xd4\\xc3\\xb2\\xa1", b"\\xa1\\xb2\\xc3\\xd4")
    True
"""

import io
import socket
import struct
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


@dataclass(frozen=True)
class Frame:
    """A frame made by one of the builders below, to go into a pcap at ts."""
    ts: float
    data: bytes


def tcp_segment(p):
    flags = 0
    for name in p.flags:
        flags |= FLAGS[name]
    return dpkt.tcp.TCP(sport=p.sport, dport=p.dport, seq=p.seq, ack=p.ack, flags=flags,
                        win=64240, data=b"x" * p.length)


def tcp_frame(p):
    """An Ethernet/IPv4/TCP frame, or Ethernet/IPv6/TCP when p's addresses are IPv6 (p.ttl is then
    the hop limit); with p.captured set, ip.len (ip6.plen) still counts the whole payload."""
    if ":" in p.src:
        frame = ethernet(ip6_packet(p.src, p.dst, dpkt.ip.IP_PROTO_TCP, bytes(tcp_segment(p)), hlim=p.ttl))
    else:
        ip = dpkt.ip.IP(src=socket.inet_aton(p.src), dst=socket.inet_aton(p.dst), p=dpkt.ip.IP_PROTO_TCP,
                        ttl=p.ttl, id=p.ip_id, data=tcp_segment(p))
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


# ---- IPv6 -------------------------------------------------------------------

HOP_BY_HOP = 0
ROUTER_ALERT = b"\x05\x02\x00\x00\x01\x00"  # router alert (MLD), then a PadN to 8 bytes in all


def v6(address):
    return socket.inet_pton(socket.AF_INET6, address)


def ethernet(packet, src=MAC_A, dst=MAC_B):
    return bytes(dpkt.ethernet.Ethernet(src=src, dst=dst, type=dpkt.ethernet.ETH_TYPE_IP6)) + packet


def ip6_packet(src, dst, nxt, payload, hlim=64, hop_by_hop=False):
    """An IPv6 packet as bytes; with hop_by_hop, a hop-by-hop options header (router alert) first."""
    if hop_by_hop:
        payload = bytes([nxt, 0]) + ROUTER_ALERT + payload
        nxt = HOP_BY_HOP
    return struct.pack(">IHBB16s16s", 6 << 28, len(payload), nxt, hlim, v6(src), v6(dst)) + payload


def icmp6_frame(src, dst, kind, code, quoting=None, word=0, quote=None, hlim=64):
    """An ICMPv6 message from src to dst: type `kind`, `code`, the 4 bytes after the checksum
    (`word`: a packet-too-big's MTU) and the IPv6 packet of Pkt `quoting`, cut to `quote` bytes
    (None: whole, as Linux quotes a SYN)."""
    quoted = ip6_packet(quoting.src, quoting.dst, dpkt.ip.IP_PROTO_TCP, bytes(tcp_segment(quoting)),
                        hlim=quoting.ttl) if quoting else b""
    body = struct.pack(">BBHI", kind, code, 0, word) + quoted[:quote]
    return ethernet(ip6_packet(src, dst, dpkt.ip.IP_PROTO_ICMP6, body, hlim=hlim), src=MAC_B, dst=MAC_A)


def solicited_node(address):
    """The solicited-node multicast address (and its Ethernet address) a solicitation for `address` goes to."""
    low = v6(address)[-3:]
    return socket.inet_ntop(socket.AF_INET6, v6("ff02::1:ff00:0")[:13] + low), b"\x33\x33\xff" + low


def ns_frame(src, target, dst=None, mac=MAC_A):
    """A neighbour solicitation from src (at Ethernet address `mac`) for target, to target's
    solicited-node address (dst: unicast, as a neighbour unreachability probe)."""
    group, group_mac = solicited_node(target)
    body = struct.pack(">BBHI", 135, 0, 0, 0) + v6(target) + b"\x01\x01" + mac  # source link-layer address
    return ethernet(ip6_packet(src, dst or group, dpkt.ip.IP_PROTO_ICMP6, body, hlim=255), src=mac,
                    dst=MAC_B if dst else group_mac)


def na_frame(target, dst, to=MAC_A):
    """A solicited neighbour advertisement: target answers dst (at Ethernet address `to`) that target is at MAC_B."""
    body = struct.pack(">BBHI", 136, 0, 0, 0x60000000) + v6(target) + b"\x02\x01" + MAC_B  # solicited, override
    return ethernet(ip6_packet(target, dst, dpkt.ip.IP_PROTO_ICMP6, body, hlim=255), src=MAC_B, dst=to)


def mld_frame(src="fe80::42:aff:fe00:2"):
    """Noise: an MLDv2 report from a link-local address to ff02::16, behind a hop-by-hop header."""
    record = struct.pack(">BBH16s", 4, 0, 0, v6("ff02::1:ff00:2"))
    body = struct.pack(">BBHHH", 143, 0, 0, 0, 1) + record
    return ethernet(ip6_packet(src, "ff02::16", dpkt.ip.IP_PROTO_ICMP6, body, hlim=1, hop_by_hop=True),
                    dst=b"\x33\x33\x00\x00\x00\x16")


def rs_frame(src="fe80::42:aff:fe00:2"):
    """Noise: a router solicitation to all routers."""
    body = struct.pack(">BBHI", 133, 0, 0, 0) + b"\x01\x01" + MAC_A
    return ethernet(ip6_packet(src, "ff02::2", dpkt.ip.IP_PROTO_ICMP6, body, hlim=255),
                    dst=b"\x33\x33\x00\x00\x00\x02")


def build(packets, noise=False, snaplen=65535):
    """pcap bytes holding `packets` (Pkt, or Frame from a builder) in order; with noise, an ARP and an
    IGMP frame first."""
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, snaplen=snaplen, linktype=dpkt.pcap.DLT_EN10MB)
    if noise:
        writer.writepkt(arp_frame(), ts=0.5)
        writer.writepkt(igmp_frame(), ts=0.6)
    for p in packets:
        writer.writepkt(p.data[:snaplen] if isinstance(p, Frame) else tcp_frame(p), ts=p.ts)
    return out.getvalue()
