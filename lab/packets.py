"""pcap bytes → Segments: the only module that knows dpkt.

Kept: TCP and ICMP/ICMPv6 errors over IPv4 and IPv6 between the lab's own
hosts, and address resolution between them: ARP (IPv4) and neighbour
solicitation/advertisement (IPv6 ND), which explain a "No route to host" with
no ICMP. Everything else is noise to the evidence and is dropped here: the
bridge's own address (which sends IGMP), and IPv6 traffic from or to a
multicast or link-local address (MLD reports, router solicitations and
advertisements): no lab host has such an address. A neighbour solicitation
goes to a solicited-node multicast address, so it is kept by its *target*;
and a neighbour unreachability probe (and its answer) is sent from (to) a
link-local address: the asker is then known by its Ethernet address, as the
lab address that Ethernet address sent IPv6 from in the same capture.

Addresses are canonical text (socket.inet_ntop, the same as
str(ipaddress.IPv6Address)): "fd7a:b0f1:9e2d:ffff::1", and `addresses` is
brought to that form too. A TCP summary writes an IPv6 address in brackets,
[fd7a:b0f1:9e2d:ffff::1]:7000, so the port stays apart.

ICMP names. IPv4: ICMP_NAMES, the iptables REJECT kinds without their
"icmp-" ("port-unreachable", "admin-prohibited", ...). IPv6: ICMP6_NAMES,
which are ip6tables' REJECT kinds as ip6tables spells them, "icmp6-" included
("icmp6-port-unreachable", "icmp6-adm-prohibited", "icmp6-no-route", ...),
and "icmp6-..." names of the same style for the kinds no REJECT sends. No
IPv6 name is an IPv4 name, so a packet rule written for one family never
matches the other's ICMP by accident (admin-prohibited means EHOSTUNREACH in
IPv4, icmp6-adm-prohibited EACCES in IPv6). A packet-too-big carries its MTU
in the `mtu` field; its name stays "icmp6-packet-too-big".

    >>> Segment(ts=0.0, src="a", dst="b", sport=1, dport=2, flags=("RST", "ACK"),
    ...         seq=1, ack=1, length=0).summary
    'a:1 > b:2 RST+ACK seq=1 ack=1 len=0'
    >>> Segment(ts=0.0, src="fd00::2", dst="fd00::3", sport=1, dport=2, flags=("SYN",),
    ...         seq=1, ack=0, length=0).summary
    '[fd00::2]:1 > [fd00::3]:2 SYN seq=1 ack=0 len=0'
    >>> Segment(ts=0.0, src="fd00::3", dst="fd00::2", sport=1, dport=2, flags=(), seq=9, ack=0, length=0,
    ...         icmp="icmp6-packet-too-big", mtu=1280).summary
    'fd00::3 > fd00::2 ICMP icmp6-packet-too-big mtu=1280 (for :1 > :2)'
"""

import functools
import io
import ipaddress
import socket
import struct
from dataclasses import asdict, dataclass

import dpkt

# ICMP destination-unreachable codes a REJECT can send (RFC 792, RFC 1812)
ICMP_NAMES = {(3, 0): "net-unreachable", (3, 1): "host-unreachable", (3, 3): "port-unreachable",
              (3, 10): "host-prohibited", (3, 9): "net-prohibited", (3, 13): "admin-prohibited",
              (3, 4): "fragmentation-needed"}  # a router's answer to a DF packet too big for the next hop (RFC 1191)
# ICMPv6 errors (RFC 4443): destination unreachable (1) by code, packet too big (2), time exceeded (3)
ICMP6_NAMES = {(1, 0): "icmp6-no-route", (1, 1): "icmp6-adm-prohibited", (1, 2): "icmp6-beyond-scope",
               (1, 3): "icmp6-addr-unreachable", (1, 4): "icmp6-port-unreachable", (1, 5): "icmp6-policy-fail",
               (1, 6): "icmp6-reject-route", (2, 0): "icmp6-packet-too-big", (3, 0): "icmp6-time-exceeded",
               (3, 1): "icmp6-reassembly-time-exceeded"}
ND_KINDS = {dpkt.icmp6.ND_NEIGHBOR_SOLICIT: "solicitation", dpkt.icmp6.ND_NEIGHBOR_ADVERT: "advertisement"}
ICMP6_KEPT = (dpkt.icmp6.ICMP6_ECHO_REQUEST, dpkt.icmp6.ICMP6_ECHO_REPLY)  # and every error (type < 128)

FLAG_BITS = [("SYN", dpkt.tcp.TH_SYN), ("ACK", dpkt.tcp.TH_ACK), ("FIN", dpkt.tcp.TH_FIN),
             ("RST", dpkt.tcp.TH_RST), ("PSH", dpkt.tcp.TH_PUSH)]


def endpoint(address, port):
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


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
    icmp: str | None = None        # for ICMP/ICMPv6: its name; ports and seq are the quoted TCP segment's
    retransmission: bool = False   # repeats sequence space this flow already sent
    keepalive: bool = False        # a keepalive probe: seq one below what was sent, no new data
    arp: str | None = None         # for ARP: "request" or "reply"; src/dst are the protocol addresses
    nd: str | None = None          # for IPv6 ND: "solicitation" (src: the asker, dst: the target) or
    #                                "advertisement" (src: the target answering, dst: the asker)
    mtu: int | None = None         # for ICMPv6 packet-too-big and ICMP fragmentation-needed: the MTU it names

    @property
    def neighbour(self):
        """Address resolution (ARP or ND): left out of a ladder unless all packets are asked for."""
        return bool(self.arp or self.nd)

    @property
    def tcp(self):
        return self.icmp is None and not self.neighbour

    @property
    def summary(self):
        if self.arp:
            return f"ARP {self.arp} {self.src} > {self.dst}"
        if self.nd:
            return f"ND {self.nd} {self.src} > {self.dst}"
        if self.icmp:
            mtu = f" mtu={self.mtu}" if self.mtu is not None else ""
            return f"{self.src} > {self.dst} ICMP {self.icmp}{mtu} (for :{self.sport} > :{self.dport})"
        return (f"{endpoint(self.src, self.sport)} > {endpoint(self.dst, self.dport)} {'+'.join(self.flags)} "
                f"seq={self.seq} ack={self.ack} len={self.length}" + (" retransmission" if self.retransmission else "")
                + (" keepalive" if self.keepalive else ""))

    def as_dict(self):
        """The fields and summary; nd and mtu only when set (an IPv4 record reads as it always did)."""
        return {**{k: v for k, v in asdict(self).items() if v is not None or k not in ("nd", "mtu")},
                "summary": self.summary}


def count(pcap):
    """How many frames a pcap holds (noise included)."""
    return sum(1 for _ in dpkt.pcap.Reader(io.BytesIO(pcap)))


def canonical(address):
    """An address as parse writes it: IPv6 compressed, lower case; anything else as it is."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def quoted_tcp(quoted):
    """(sport, dport, seq) of the TCP segment an ICMP error quotes: its first 8 bytes, else zeros."""
    return struct.unpack(">HHI", quoted[:8]) if len(quoted) >= 8 else (0, 0, 0)


def icmp_segment(ts, src, dst, icmp):
    """An ICMP error, carrying the ports and sequence number of the TCP segment it quotes."""
    name = ICMP_NAMES.get((icmp.type, icmp.code), f"type {icmp.type} code {icmp.code}")
    sport = dport = seq = 0
    quoted = getattr(icmp.data, "data", None)  # ICMP.Unreach -> the quoted IP header and 8 bytes
    if isinstance(quoted, dpkt.ip.IP) and len(bytes(quoted.data)) >= 8:
        sport, dport, seq = struct.unpack(">HHI", bytes(quoted.data)[:8])
    mtu = getattr(icmp.data, "mtu", None) if (icmp.type, icmp.code) == (3, 4) else None
    return Segment(ts=ts, src=src, dst=dst, sport=sport, dport=dport, flags=(), seq=seq, ack=0,
                   length=0, icmp=name, mtu=mtu)


def icmp6_segment(ts, src, dst, icmp):
    """An ICMPv6 error (or echo), carrying the ports and sequence number of the TCP segment it quotes
    (a quoted IPv6 header with extension headers before the TCP is not looked into: zeros)."""
    code = 0 if icmp.type == dpkt.icmp6.ICMP6_PACKET_TOO_BIG else icmp.code
    name = ICMP6_NAMES.get((icmp.type, code), f"icmp6 type {icmp.type} code {icmp.code}")
    quoted = getattr(icmp.data, "data", None)  # ICMP6.Unreach/TooBig/TimeExceed -> the quoted IPv6 packet
    sport, dport, seq = (0, 0, 0)
    if isinstance(quoted, dpkt.ip6.IP6) and quoted.nxt == dpkt.ip.IP_PROTO_TCP:
        sport, dport, seq = quoted_tcp(bytes(quoted.data))
    mtu = getattr(icmp.data, "mtu", None) if icmp.type == dpkt.icmp6.ICMP6_PACKET_TOO_BIG else None
    return Segment(ts=ts, src=src, dst=dst, sport=sport, dport=dport, flags=(), seq=seq, ack=0,
                   length=0, icmp=name, mtu=mtu)


def link_addresses(pcap, addresses):
    """{Ethernet address: the lab IPv6 address it first sent from}: who a link-local address is."""
    macs = {}
    for _, frame in dpkt.pcap.Reader(io.BytesIO(pcap)):
        eth = dpkt.ethernet.Ethernet(frame)
        if isinstance(eth.data, dpkt.ip6.IP6):
            src = socket.inet_ntop(socket.AF_INET6, eth.data.src)
            if src in addresses:
                macs.setdefault(eth.src, src)
    return macs


def asker(raw, mac, macs):
    """The address an ND packet was sent from or to; a link-local one as the lab address of its MAC
    (macs(): link_addresses, read from the capture only when one is needed)."""
    address = socket.inet_ntop(socket.AF_INET6, raw)
    return macs().get(mac, address) if ipaddress.IPv6Address(raw).is_link_local else address


def nd_segment(ts, eth, addresses, macs):
    """A neighbour solicitation or advertisement between lab hosts, or None. Both carry the target
    address after 4 bytes of flags: a solicitation asks for it, an advertisement answers for it."""
    ip6 = eth.data
    icmp, kind = ip6.data, ND_KINDS[ip6.data.type]
    body = bytes(icmp.data)
    if len(body) < 20:
        return None
    target = socket.inet_ntop(socket.AF_INET6, body[4:20])
    if kind == "solicitation":
        src, dst = asker(ip6.src, eth.src, macs), target
    else:
        src, dst = target, asker(ip6.dst, eth.dst, macs)
    if src not in addresses or dst not in addresses:
        return None
    return Segment(ts=ts, src=src, dst=dst, sport=0, dport=0, flags=(), seq=0, ack=0, length=0, nd=kind)


class Flows:
    """Sequence space each flow has sent: which segments repeat it (retransmissions) and which are
    keepalive probes. The same for IPv4 and IPv6."""

    def __init__(self):
        self.sent = {}  # flow -> (first seq, end of the sequence space sent so far, relative)

    def segment(self, ts, src, dst, tcp, length):
        flags = tuple(name for name, bit in FLAG_BITS if tcp.flags & bit)
        used = length + ("SYN" in flags) + ("FIN" in flags)  # sequence space this segment takes
        flow = (src, tcp.sport, dst, tcp.dport)
        first, end = self.sent.get(flow, (tcp.seq, 0))
        offset = (tcp.seq - first) % 2**32
        probe = (flow in self.sent and length <= 1 and end >= 1 and offset == end - 1
                 and not set(flags) & {"SYN", "FIN", "RST"})
        again = used > 0 and flow in self.sent and offset < end and not probe
        if used > 0 and "RST" not in flags and not probe:
            self.sent[flow] = (first, max(end, offset + used))
        return Segment(ts=ts, src=src, dst=dst, sport=tcp.sport, dport=tcp.dport, flags=flags,
                       seq=tcp.seq, ack=tcp.ack, length=length, retransmission=again, keepalive=probe)


class Hops:
    """A router captures each packet it forwards twice on one interface: as it came in and as it
    went out, one hop older (TTL, or IPv6 hop limit, one less). `seen` is True for that second copy."""

    def __init__(self):
        self.arrived = {}  # packet key -> the TTL / hop limit it last had

    def seen(self, key, hops):
        older = self.arrived.get(key) == hops + 1
        if not older:
            self.arrived[key] = hops
        return older


def ipv6_segment(ts, eth, addresses, flows, hops, macs):
    """The Segment of one IPv6 packet, or None for noise and a router's second copy."""
    ip6 = eth.data
    if isinstance(ip6.data, dpkt.icmp6.ICMP6) and ip6.data.type in ND_KINDS:
        return nd_segment(ts, eth, addresses, macs)
    # no IP id in IPv6: the header past the hop limit (the addresses) and the payload's start
    if hops.seen((6, ip6.nxt, ip6.src, ip6.dst, bytes(ip6.data)[:40]), ip6.hlim):
        return None
    src, dst = socket.inet_ntop(socket.AF_INET6, ip6.src), socket.inet_ntop(socket.AF_INET6, ip6.dst)
    if src not in addresses or dst not in addresses:
        return None
    if isinstance(ip6.data, dpkt.icmp6.ICMP6):
        kept = ip6.data.type < 128 or ip6.data.type in ICMP6_KEPT
        return icmp6_segment(ts, src, dst, ip6.data) if kept else None
    if not isinstance(ip6.data, dpkt.tcp.TCP):
        return None
    tcp = ip6.data
    # with a snap length the payload may be cut: the payload length still says how much there was
    # (it counts extension headers too); 0 is a jumbo or offloaded packet: count what is there
    extensions = sum(h.length for h in getattr(ip6, "all_extension_headers", []))
    length = ip6.plen - extensions - tcp.off * 4 if ip6.plen else len(tcp.data)
    return flows.segment(ts, src, dst, tcp, length)


def parse(pcap, addresses):
    """Segments in a pcap whose both ends are in `addresses`, in capture order."""
    addresses = {canonical(a) for a in addresses}
    segments = []
    flows, hops = Flows(), Hops()
    macs = functools.cache(lambda: link_addresses(pcap, addresses))
    reader = dpkt.pcap.Reader(io.BytesIO(pcap))
    for ts, frame in reader:
        eth = dpkt.ethernet.Ethernet(frame)
        ip = eth.data
        if isinstance(ip, dpkt.ip6.IP6):
            segment = ipv6_segment(float(ts), eth, addresses, flows, hops, macs)
            if segment is not None:
                segments.append(segment)
            continue
        if isinstance(ip, dpkt.arp.ARP):
            src, dst = socket.inet_ntoa(ip.spa), socket.inet_ntoa(ip.tpa)
            if src in addresses and dst in addresses and ip.op in (dpkt.arp.ARP_OP_REQUEST, dpkt.arp.ARP_OP_REPLY):
                segments.append(Segment(ts=float(ts), src=src, dst=dst, sport=0, dport=0, flags=(), seq=0,
                                        ack=0, length=0, arp="request" if ip.op == dpkt.arp.ARP_OP_REQUEST else "reply"))
            continue
        if not isinstance(ip, dpkt.ip.IP):
            continue
        if hops.seen((ip.id, ip.src, ip.dst, bytes(ip.data)[:16]), ip.ttl):
            continue
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
        segments.append(flows.segment(float(ts), src, dst, tcp, length))
    return segments
