"""Every runtime's agent against the line protocol (lab/agents/PROTOCOL.md), through lab/calls.py.

Each agent is built by lab.runtimes (as a run builds it) and driven by the
runner's own driver (`lab.calls.Agent`) on loopback inside a private network
namespace (`unshare --net`, root only), so no test opens a port on this
machine's interfaces and parallel runs cannot collide; for IPv6 its `lo` also
has a unique-local address of the tests' own prefix (V6). The peer is the Python
agent, the lab's reference; the runtime under test is the other side. Every
event is checked for the protocol's shape, then for what the kernel did: the
socket table (`ss` in the namespace) decides whether a close found unread
data, so the peer's ECONNRESET or EOF is checked against it, not assumed.

Where a runtime answers differently, RUNTIME_ANSWERS says what it answers and
which runtime source explains it; those are findings, asserted so a change is
seen. A missing toolchain skips its runtime by name (fails under CI=true).
"""

import errno
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.backends.confine import PipeProcess
from lab import runtimes
from lab.calls import Agent, outcome
from lab.errors import SetupError

pytestmark = pytest.mark.slow
RUNTIMES = list(runtimes.NAMES)
JAVAS = ("java-nio", "java-socket")
EVENT_KEYS = {"id", "op", "sock", "start", "end", "ret", "errno", "strerror", "timeout", "words", "skipped",
              "error", "partial", "local", "peer", "how", "between", "effective", "address", "buffered"}
ERRNO_NAMES = set(errno.errorcode.values())
V6 = "fd7a:b0f1:9e2d:ffff::1"   # the namespace's lo, nodad: the tests' own unique-local prefix, nothing outside it
# The `named` namespace's /etc/hosts: `dual` with its IPv4 line first (as the lab's names_file() writes a host),
# `sixfirst` with its IPv6 line first; localhost is 127.0.0.1 alone, as on this machine and in Debian's images.
NAMES = f"127.0.0.1 localhost\n127.0.0.1 dual\n{V6} dual\n{V6} sixfirst\n127.0.0.1 sixfirst\n"
# Where each runtime's connect by name goes (the address; words where the lookup fails), and why:
# - c, python: getaddrinfo(AF_UNSPEC) sorted by glibc's rfc3484_sort() (sysdeps/posix/getaddrinfo.c): a
#   unique-local address has ::/0's precedence 40, 127.0.0.1 ::ffff:0:0/96's 10: IPv6 first, whatever the file's order
# - node: net.js lookupAndConnect() adds dns.ADDRCONFIG, and glibc's __check_pf() counts no IPv4 address but
#   127.0.0.1 while lo's unique-local address counts for IPv6: getaddrinfo asks for AF_INET6 only, so `localhost`
#   (127.0.0.1 alone) is not found, and `dual` is V6 alone
# - go (no cgo): goLookupIPFiles() sorts /etc/hosts's addresses with sortByRFC6724() (addrselect.go), whose
#   RFC 6724 table gives ::ffff:0:0/96 precedence 35 and fc00::/7 3: IPv4 first, whatever the file's order;
#   dialParallel() dials the first family at once
# - java: InetAddress.getByName() is getAllByName()'s first, IPv4 first with java.net.preferIPv6Addresses unset
#   (InetAddress's PREFER_IPV4_VALUE, Inet6AddressImpl.lookupAllHostAddr())
BY_NAME = {
    "dual": {"c": V6, "python": V6, "node": V6, "go": "127.0.0.1", "java-nio": "127.0.0.1", "java-socket": "127.0.0.1"},
    "sixfirst": {"c": V6, "python": V6, "node": V6, "go": "127.0.0.1", "java-nio": "127.0.0.1", "java-socket": "127.0.0.1"},
    "localhost": {"c": "127.0.0.1", "python": "127.0.0.1", "node": "getaddrinfo", "go": "127.0.0.1",
                  "java-nio": "127.0.0.1", "java-socket": "127.0.0.1"},
}

# What a runtime answers where it differs from the kernel's errno, and why (runtime source: file, function).
RUNTIME_ANSWERS = {
    # java.net.ConnectException from sun.nio.ch.Net.connect / SocketChannelImpl.finishConnect (Net.c handleSocketError)
    ("refused", "java-nio"): "java.net.ConnectException: Connection refused",
    ("refused", "java-socket"): "java.net.ConnectException: Connection refused",
    # ECONNRESET on read: SocketChannelImpl.read -> throwConnectionReset(); NioSocketImpl.implRead
    # catches ConnectionResetException and throws SocketException("Connection reset")
    ("read-reset", "java-nio"): "java.net.SocketException: Connection reset",
    ("read-reset", "java-socket"): "java.net.SocketException: Connection reset",
    # the write after that read: NIO's native write throws libc's text in an IOException (IOUtil.write,
    # SocketDispatcher); NioSocketImpl.implWrite rewraps any IOException as SocketException(msg)
    ("write-reset", "java-nio"): "java.io.IOException: Broken pipe",
    ("write-reset", "java-socket"): "java.net.SocketException: Broken pipe",
    # flowing: the 'error' event destroyed the socket before the write (stream destroy(), writable.js errorOrDestroy)
    ("write-reset", "node"): "ERR_STREAM_DESTROYED: Cannot call write after a stream was destroyed",
    # a Node socket reads ahead: the kernel holds nothing at close, so the peer sees FIN, not RST
    ("close-unread", "node"): "EOF",
    # Java shuts output down before it closes (unless SO_LINGER is 0): FIN, then the RST for the
    # unread data, so the peer reads EOF first (NioSocketImpl.close; SocketChannelImpl.implCloseNonBlockingMode)
    ("close-unread", "java-nio"): "EOF",
    ("close-unread", "java-socket"): "EOF",
    # allowHalfOpen false: Node ends its side as soon as the peer's FIN arrives (net.js onReadableStreamEnd)
    ("peer-fin", "node"): "TIME-WAIT",
    # IPv6 text: Inet6Address.getHostAddress() is the uncompressed form (Inet6Address.numericToTextFormat)
    ("v6-text", "java-nio"): "fd7a:b0f1:9e2d:ffff:0:0:0:1",
    ("v6-text", "java-socket"): "fd7a:b0f1:9e2d:ffff:0:0:0:1",
    # an IPv4 client of a dual-stack [::] listener: the kernel's sockaddr_in6 is ::ffff:127.0.0.1; Go prints an
    # IPv4-mapped net.IP dotted (net/ip.go IP.String), the JDK makes it an Inet4Address (net_util.c
    # NET_SockaddrToInetAddress); c (inet_ntop), python (getsockname) and node (libuv uv_ip6_name) keep it
    ("v4-on-dual-stack", "go"): "127.0.0.1",
    ("v4-on-dual-stack", "java-nio"): "127.0.0.1",
    ("v4-on-dual-stack", "java-socket"): "127.0.0.1",
    # java.net has no IPV6_V6ONLY option (StandardSocketOptions, jdk.net.ExtendedSocketOptions)
    ("v6only", "java-nio"): "SKIPPED",
    ("v6only", "java-socket"): "SKIPPED",
    # the JDK opens every socket AF_INET6 with IPV6_V6ONLY off (sun.nio.ch Net.c socket0) and binds
    # 0.0.0.0 as :: (net_util_md.c NET_InetAddressToSockaddr): a family 4 listener is dual-stack too
    ("bind-4", "java-nio"): ("*", 0),
    ("bind-4", "java-socket"): ("*", 0),
}


def fail_or_skip(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the agent tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def netns():
    """A network namespace with only `lo` up, held by a sleeping process; its path for nsenter."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        fail_or_skip("the agent tests need root, unshare and nsenter for a private network namespace")
    holder = subprocess.Popen(["unshare", "--net", "sh", "-c", f"ip link set lo up && ip addr add {V6}/64 dev lo nodad"
                               " && echo up && exec sleep infinity"], stdout=subprocess.PIPE, text=True)
    try:
        if holder.stdout.readline().strip() != "up":
            fail_or_skip(f"cannot bring up lo with {V6} in a new network namespace")
        yield f"/proc/{holder.pid}/ns/net"
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="session")
def built():
    """Each runtime's run argv, built by lab.runtimes as a run builds it; a missing toolchain is its reason."""
    argvs = {}
    for name in RUNTIMES:
        try:
            argvs[name] = runtimes.get(name).argv(runtimes.build(name), python=sys.executable)
        except SetupError as exc:
            argvs[name] = str(exc)
    return argvs


@pytest.fixture(scope="session")
def named(tmp_path_factory):
    """Like `netns`, with its own mount namespace whose /etc/hosts is NAMES (bind-mounted there only);
    (net, mnt) namespace paths for nsenter."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        fail_or_skip("the agent tests need root, unshare and nsenter for a private network namespace")
    hosts = tmp_path_factory.mktemp("names") / "hosts"
    hosts.write_text(NAMES)
    holder = subprocess.Popen(["unshare", "--net", "--mount", "sh", "-c", f"mount --bind {hosts} /etc/hosts && "
                               f"ip link set lo up && ip addr add {V6}/64 dev lo nodad && echo up && exec sleep infinity"],
                              stdout=subprocess.PIPE, text=True)
    try:
        if holder.stdout.readline().strip() != "up":
            fail_or_skip(f"cannot give a new mount and network namespace its own /etc/hosts and {V6}")
        yield f"/proc/{holder.pid}/ns/net", f"/proc/{holder.pid}/ns/mnt"
    finally:
        holder.kill()
        holder.wait()


class NsHost:
    """Just enough of a Host for lab.calls.Agent: spawn inside the namespace (and mount namespace, if given)."""

    def __init__(self, netns, argv, mntns=None):
        self.name, self.netns, self.agent_argv, self.mntns = argv[-1], netns, argv, mntns

    def spawn(self, argv):
        mount = [f"--mount={self.mntns}"] if self.mntns else []
        return PipeProcess(["nsenter", f"--net={self.netns}", *mount, *argv])


class Pair:
    """The runtime under test (`it`) and the Python agent (`peer`), in one namespace."""

    def __init__(self, netns, built, runtime, sigpipe="ignore", mntns=None):
        if isinstance(built[runtime], str):
            fail_or_skip(built[runtime])
        self.netns, self.runtime = netns, runtime
        self.it = Agent(NsHost(netns, built[runtime], mntns), sigpipe)
        self.peer = Agent(NsHost(netns, built["python"], mntns))
        self.hello = self.it.log[0]["line"]

    def call(self, who, op, timeout=3.0, **args):
        agent = self.it if who == "it" else self.peer
        event = agent.call(op, args, timeout)
        check_shape(event, op, self.runtime if who == "it" else "python", agent.next_id)
        return event

    def ss(self):
        """The namespace's TCP sockets: {(local port, peer port): (state, Recv-Q, Send-Q)}."""
        out = subprocess.run(["nsenter", f"--net={self.netns}", "ss", "-tanH"], capture_output=True, text=True,
                             check=True).stdout
        table = {}
        for line in out.splitlines():
            state, recv_q, send_q, local, peer = line.split()[:5]
            if state == "LISTEN":
                continue
            table[(int(local.rsplit(":", 1)[1]), int(peer.rsplit(":", 1)[1]))] = (state, int(recv_q), int(send_q))
        return table

    def listeners(self):
        """The namespace's listening sockets: {port: (bound address as ss prints it, v6only or None for AF_INET)}."""
        out = subprocess.run(["nsenter", f"--net={self.netns}", "ss", "-tlnHe"], capture_output=True, text=True,
                             check=True).stdout
        table = {}
        for line in out.splitlines():
            host, port = line.split()[3].rsplit(":", 1)
            v6only = [int(f.split(":")[1]) for f in line.split() if f.startswith("v6only:")]
            table[int(port)] = (host, v6only[0] if v6only else None)
        return table

    def wait_ss(self, what, condition, timeout=3.0):
        deadline = time.monotonic() + timeout
        while not condition(table := self.ss()):
            assert time.monotonic() < deadline, f"{self.runtime}: never {what}; ss: {table}"
            time.sleep(0.005)
        return table

    def connected(self, server="it", port=5000, addr="127.0.0.1"):
        """`server` listens (family of `addr`) and accepts, the other connects to `addr`; returns (client's connect,
        server's accept). Ends are compared as addresses: Java's IPv6 text is the uncompressed form."""
        client = "peer" if server == "it" else "it"
        family = {"family": 6} if ipaddress.ip_address(addr).version == 6 else {}
        assert "ret" in self.call(server, "listen", port=port, **family)
        connect = self.call(client, "connect", addr=addr, port=port)
        accept = self.call(server, "accept")
        assert "ret" in connect and "ret" in accept, (connect, accept)
        assert ends(connect["local"]) == ends(accept["peer"]), (connect, accept)
        assert ends(connect["peer"]) == ends(accept["local"]) == (ipaddress.ip_address(addr), port), (connect, accept)
        return connect, accept

    def close(self):
        for agent in (self.it, self.peer):
            if agent.alive:
                agent.call("exit", {}, 3.0)


@pytest.fixture(params=RUNTIMES)
def pair(request, netns, built):
    p = Pair(netns, built, request.param)
    yield p
    p.close()


def check_shape(event, op, runtime, id_):
    """The protocol's shape: echoed id and op, both clocks, exactly one result, the runtime's words."""
    assert set(event) <= EVENT_KEYS, f"{runtime} {op}: keys outside the protocol: {set(event) - EVENT_KEYS}"
    assert event["id"] == id_ and event["op"] == op, event
    for clock in ("start", "end"):
        assert abs(event[clock]["mono"] - time.monotonic()) < 30, f"{runtime}: mono is not CLOCK_MONOTONIC: {event}"
        assert abs(event[clock]["real"] - time.time()) < 30, f"{runtime}: real is not CLOCK_REALTIME: {event}"
    assert event["start"]["mono"] <= event["end"]["mono"]
    results = [k for k in ("ret", "errno", "timeout", "skipped", "error") if k in event]
    assert len(results) == 1 or (results == [] and "words" in event) or set(results) == {"timeout", "errno"}, event
    if "errno" in event:
        assert event["errno"] in ERRNO_NAMES, event
        if "strerror" in event:   # libc's own text, nobody else's
            assert event["strerror"] == os.strerror(getattr(errno, event["errno"])), event
    assert ("strerror" in event) == (runtime in ("c", "python") and "errno" in event and "timeout" not in event), event
    failed = "ret" not in event and not {"error", "skipped"} & set(event)
    if failed and runtime != "python" and "timeout" not in event:
        assert isinstance(event.get("words"), str) and event["words"], f"{runtime} {op}: a failure without words: {event}"
    for end in ("local", "peer"):
        if end in event:
            address, port = event[end]
            assert isinstance(address, str) and isinstance(port, int), event


def ends(end):
    """An event's [address, port] as (ip_address, port)."""
    return ipaddress.ip_address(end[0]), end[1]


def unmapped(end):
    """ends(), an IPv4-mapped IPv6 address as the IPv4 address it maps."""
    address, port = ends(end)
    return getattr(address, "ipv4_mapped", None) or address, port


def expected(situation, runtime, default):
    return RUNTIME_ANSWERS.get((situation, runtime), default)


def answer(event, situation, runtime):
    """The outcome token, or the runtime's words where RUNTIME_ANSWERS gives words (no errno) instead."""
    if expected(situation, runtime, "").startswith(("java.", "ERR_")):
        assert "errno" not in event, f"{runtime} exposes no errno, yet: {event}"
        return event["words"]
    return outcome(event["op"], event)


def test_hello_and_bad_commands(pair):
    hello = json.loads(pair.hello)
    assert hello["op"] == "hello" and hello["pid"] == pair.it.pid and isinstance(hello["start"]["mono"], float)
    if pair.runtime != "python":   # the python agent predates the runtime fields
        assert hello["runtime"] == pair.runtime and hello["version"] and hello["sigpipe"] in ("ignore", "default")
    assert pair.call("it", "recv", sock="nope")["error"]
    assert pair.call("it", "frobnicate")["error"]


def test_send_recv_eof(pair):
    pair.connected(server="it")
    assert pair.call("peer", "sendall", bytes=100_000)["ret"] == 100_000
    assert pair.call("it", "recvall", bytes=100_000)["ret"] == 100_000
    sent = pair.call("it", "send", bytes=500)["ret"]
    assert 0 < sent <= 500 and pair.call("peer", "recvall", bytes=sent)["ret"] == sent
    assert pair.call("peer", "close")["ret"] is None
    eof = pair.call("it", "recv")
    assert outcome("recv", eof) == "EOF", eof
    assert pair.call("it", "close")["ret"] is None


def test_effective_options_after_setup(pair):
    """Each socket's options as its runtime reads them back: the runtimes' defaults differ."""
    connect, accept = pair.connected(server="peer")
    if pair.runtime == "node":   # net has no API to read an option back
        assert "effective" not in connect
        return
    options = connect["effective"]
    assert options["SO_RCVBUF"] > 0 and options["TCP_KEEPCNT"] >= 1 and accept["effective"]["SO_REUSEADDR"] == 1
    # Go's dialer turns keepalive (15 s) and TCP_NODELAY on; the others leave the kernel's defaults
    go = pair.runtime == "go"
    assert (options["SO_KEEPALIVE"], options["TCP_NODELAY"]) == ((1, 1) if go else (0, 0)), options
    assert options["TCP_KEEPIDLE"] == (15 if go else 7200), options


def test_connect_refused(pair):
    event = pair.call("it", "connect", addr="127.0.0.1", port=5999)
    assert answer(event, "refused", pair.runtime) == expected("refused", pair.runtime, "ECONNREFUSED")
    assert event["peer"] == ["127.0.0.1", 5999]


def reset_by_peer(pair):
    """The runtime sends 100 bytes the peer never reads; the peer closes, so its kernel sends RST.

    Returns the runtime's recv after the reset has arrived (its socket gone from ss)."""
    connect, accept = pair.connected(server="peer")
    ours, theirs = connect["local"][1], accept["local"][1]
    assert pair.call("it", "send", bytes=100)["ret"] == 100
    pair.wait_ss("holding 100 unread bytes", lambda t: t.get((theirs, ours), ("", 0, 0))[1] == 100)
    assert pair.call("peer", "close")["ret"] is None
    pair.wait_ss("reset", lambda t: (ours, theirs) not in t)
    return pair.call("it", "recv")


def test_read_and_write_after_reset(pair):
    read = reset_by_peer(pair)
    assert answer(read, "read-reset", pair.runtime) == expected("read-reset", pair.runtime, "ECONNRESET"), read
    write = pair.call("it", "send", bytes=1)
    assert answer(write, "write-reset", pair.runtime) == expected("write-reset", pair.runtime, "EPIPE"), write


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sigpipe_default(runtime, netns, built):
    """--sigpipe=default: c and python die of SIGPIPE on the write; the others say they cannot, and answer as before."""
    pair = Pair(netns, built, runtime, sigpipe="default")
    try:
        hello = json.loads(pair.hello)
        reset_by_peer(pair)
        write = pair.it.call("send", {"bytes": 1}, 3.0)
        if runtime in ("c", "python"):
            assert outcome("send", write) == "SIGPIPE" and write["exit"] == 128 + 13, write
        else:
            assert hello["sigpipe"] == "ignore" and "SIGPIPE" in hello["skipped"], hello
            assert answer(write, "write-reset", runtime) == expected("write-reset", runtime, "EPIPE"), write
    finally:
        pair.close()


def test_close_with_unread_data(pair):
    """The runtime closes with the peer's 100 bytes unread by the program: RST if its kernel still holds them."""
    connect, accept = pair.connected(server="it")
    theirs, ours = connect["local"][1], accept["local"][1]
    assert pair.call("peer", "send", bytes=100)["ret"] == 100
    held = 0 if pair.runtime == "node" else 100
    pair.wait_ss(f"acked with {held} bytes in our receive queue",
                 lambda t: t[(theirs, ours)][2] == 0 and t[(ours, theirs)][1] == held)
    assert pair.call("it", "close")["ret"] is None
    read = pair.call("peer", "recv")
    assert outcome("recv", read) == expected("close-unread", pair.runtime, "ECONNRESET"), read
    # an RST (data was unread in the kernel) ends the peer's socket; a FIN alone leaves it in CLOSE-WAIT
    pair.wait_ss("RST or FIN alone, as the receive queue said", lambda t: ((theirs, ours) in t) == (held == 0))
    assert outcome("recv", pair.call("peer", "recv")) == "EOF"


def test_half_close(pair):
    """shutdown WR sends FIN and leaves reading open; the peer's FIN leaves us in CLOSE_WAIT (but for node)."""
    connect, accept = pair.connected(server="it")
    theirs, ours = connect["local"][1], accept["local"][1]
    assert pair.call("it", "shutdown", how="WR")["ret"] is None
    assert outcome("recv", pair.call("peer", "recv")) == "EOF"
    assert pair.call("peer", "send", bytes=10)["ret"] == 10
    assert pair.call("it", "recvall", bytes=10)["ret"] == 10
    connect, accept = pair.connected(server="it", port=5001)
    theirs, ours = connect["local"][1], accept["local"][1]
    assert pair.call("peer", "shutdown", how="WR")["ret"] is None
    state = expected("peer-fin", pair.runtime, "FIN-WAIT-2")
    pair.wait_ss(f"the peer in {state}", lambda t: t.get((theirs, ours), ("",))[0] == state)
    assert outcome("recv", pair.call("it", "recv", sock="conn")) == "EOF"
    assert pair.ss().get((theirs, ours), ("",))[0] == state


def test_state_and_acked(pair):
    """TCP_INFO and SIOCOUTQ where the runtime has them, agreeing with ss; SKIPPED naming what is missing where not."""
    connect, accept = pair.connected(server="peer")
    ours, theirs = connect["local"][1], accept["local"][1]
    assert pair.call("it", "send", bytes=10)["ret"] == 10
    acked, state = pair.call("it", "acked"), pair.call("it", "state", want=["ESTABLISHED"])
    if pair.runtime in (*JAVAS, "node"):
        assert "SIOCOUTQ" in acked["skipped"] and "TCP_INFO" in state["skipped"], (acked, state)
        return
    assert acked["ret"] == 0 and pair.ss()[(ours, theirs)][2] == 0
    assert state["ret"] == "ESTABLISHED" and pair.ss()[(ours, theirs)][0] == "ESTAB"
    waited = pair.call("it", "state", want=["CLOSE_WAIT"], timeout=0.2)
    assert outcome("state", waited) == "TIMEOUT", waited


def test_deadlines(pair):
    """accept and recv with nothing coming end at their deadline as TIMEOUT, not before, not much after."""
    assert "ret" in pair.call("it", "listen", port=5002)
    for op in ("accept", "recv"):
        if op == "recv":
            pair.connected(server="it")
        event = pair.call("it", op, timeout=0.3)
        took = event["end"]["mono"] - event["start"]["mono"]
        assert outcome(op, event) == "TIMEOUT" and 0.29 <= took < 2.0, (took, event)


def test_connect_deadline(pair):
    """A SYN nobody answers (the peer's accept queue is full): every connect ends at its deadline.

    c's default is a blocking connect() under SO_SNDTIMEO, which Linux ends with EINPROGRESS
    (net/ipv4/af_inet.c __inet_stream_connect); style poll is Python's way; no other runtime has styles."""
    assert "ret" in pair.call("peer", "listen", port=5003, backlog=0)
    filler = pair.call("peer", "connect", addr="127.0.0.1", port=5003, sock="filler")
    assert "ret" in filler   # accepted by the kernel, never by the program: the queue is now full
    # the python agent ignores `style` (lab/sockops.py predates it) instead of answering SKIPPED
    styles = {"c": ["blocking", "poll"], "python": [None]}.get(pair.runtime, [None, "blocking"])
    for i, style in enumerate(styles):
        args = {"style": style} if style else {}
        event = pair.call("it", "connect", addr="127.0.0.1", port=5003, sock=f"c{i}", timeout=0.3, **args)
        if style and pair.runtime != "c":
            assert "style" in event["skipped"], event
            continue
        took = event["end"]["mono"] - event["start"]["mono"]
        assert outcome("connect", event) == "TIMEOUT" and 0.29 <= took < 2.0, (took, event)
        assert event.get("errno") == ("EINPROGRESS" if (pair.runtime, style) == ("c", "blocking") else None), event
        assert pair.runtime == "python" or event["how"], event


def test_ipv6_send_recv_eof(pair):
    """Family 6 both ways: the runtime listens on [::] and accepts, then connects to an IPv6 literal; data and EOF."""
    for server, port in (("it", 5010), ("peer", 5011)):
        connect, accept = pair.connected(server=server, port=port, addr=V6)
        ours = accept if server == "it" else connect
        assert ours["local"][0] == expected("v6-text", pair.runtime, V6), ours   # as the runtime writes it
        client = "peer" if server == "it" else "it"
        assert pair.call(client, "sendall", bytes=100_000)["ret"] == 100_000
        assert pair.call(server, "recvall", bytes=100_000)["ret"] == 100_000
        sent = pair.call(server, "send", bytes=500)["ret"]
        assert 0 < sent <= 500 and pair.call(client, "recvall", bytes=sent)["ret"] == sent
        assert pair.call(client, "close")["ret"] is None
        assert outcome("recv", pair.call(server, "recv")) == "EOF"
        assert pair.call(server, "close")["ret"] is None


def test_ipv6_connect_refused(pair):
    event = pair.call("it", "connect", addr=V6, port=5999)
    assert answer(event, "refused", pair.runtime) == expected("refused", pair.runtime, "ECONNREFUSED"), event
    assert ends(event["peer"]) == (ipaddress.ip_address(V6), 5999), event
    if "local" in event:   # c and python: getsockname() of the failed socket (c's blocking connect() reset it to ::)
        assert ends(event["local"])[0].version == 6, event


def test_ipv6_v6only(pair):
    """A [::] listener with IPV6_V6ONLY refuses an IPv4 client; without it an IPv4 client is accepted
    (IPv4-mapped, as the runtime reports it); a family 4 listener is 0.0.0.0 (the kernel's view: ss)."""
    reads_back = pair.runtime in ("c", "python", "go")   # getsockopt; java's getOption has no IPV6_V6ONLY, node nothing
    only = pair.call("it", "listen", port=5020, family=6, options={"IPV6_V6ONLY": True}, sock="only")
    if expected("v6only", pair.runtime, "") == "SKIPPED":
        assert "IPV6_V6ONLY" in only["skipped"], only
    else:
        assert "ret" in only and pair.listeners()[5020] == ("[::]", 1), (only, pair.listeners())
        refused = pair.call("peer", "connect", addr="127.0.0.1", port=5020, sock="v4")
        assert outcome("connect", refused) == "ECONNREFUSED", refused
        assert "ret" in pair.call("peer", "connect", addr=V6, port=5020, sock="v6")
        accept = pair.call("it", "accept", listener="only", sock="a6")
        assert ends(accept["peer"])[0] == ipaddress.ip_address(V6), accept
        assert accept.get("effective", {}).get("IPV6_V6ONLY") == (1 if reads_back else None), accept
    assert "ret" in pair.call("it", "listen", port=5021, family=6, sock="dual")
    assert pair.listeners()[5021] == ("*", 0), pair.listeners()   # AF_INET6, IPV6_V6ONLY off: dual-stack
    connect = pair.call("peer", "connect", addr="127.0.0.1", port=5021, sock="v4dual")
    accept = pair.call("it", "accept", listener="dual", sock="a4")
    mapped = expected("v4-on-dual-stack", pair.runtime, "::ffff:127.0.0.1")
    assert accept["peer"] == [mapped, connect["local"][1]] and accept["local"] == [mapped, 5021], (connect, accept)
    assert accept.get("effective", {}).get("IPV6_V6ONLY") == (0 if reads_back else None), accept   # AF_INET6
    assert "ret" in pair.call("it", "listen", port=5022, sock="four")
    assert pair.listeners()[5022] == expected("bind-4", pair.runtime, ("0.0.0.0", None)), pair.listeners()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_connect_by_name(runtime, named, built):
    """connect with a name as `addr`: the runtime resolves it as its programs do (the namespace's own /etc/hosts,
    NAMES) and connects to a dual-stack [::] listener; BY_NAME says where each runtime goes and why."""
    pair = Pair(named[0], built, runtime, mntns=named[1])
    try:
        assert "ret" in pair.call("peer", "listen", port=5030, family=6)
        for name, where in BY_NAME.items():
            event = pair.call("it", "connect", addr=name, port=5030, sock=name)
            if where[runtime] == "getaddrinfo":   # no address: the runtime's words, no errno
                assert "errno" not in event and "getaddrinfo" in event["words"], event
                continue
            assert "ret" in event and ends(event["peer"])[0] == ipaddress.ip_address(where[runtime]), (name, event)
            accept = pair.call("peer", "accept", sock=f"a-{name}")   # an IPv4 client is ::ffff:127.0.0.1 there
            assert unmapped(accept["peer"]) == unmapped(event["local"]), (accept, event)
    finally:
        pair.close()


def test_send_dontwait(pair):
    """A send that must not wait, into a window the peer (never reading, SO_RCVBUF 4096) has closed: c and python
    send(MSG_DONTWAIT), go one write(2) through RawConn.Write, each EAGAIN once the send buffer is full; java-nio's
    write() on its nonblocking channel 0 (IOStatus.normalize of IOS_UNAVAILABLE); java-socket SKIPPED (no
    nonblocking mode); node never refuses: write() takes every byte and keeps what the kernel would not."""
    assert "ret" in pair.call("peer", "listen", port=5040, options={"SO_RCVBUF": 4096})
    # net has no SO_SNDBUF, and on loopback tcp_sndbuf_expand() grows the kernel's to megabytes: big writes
    options, chunk = ({}, 1_000_000) if pair.runtime == "node" else ({"SO_SNDBUF": 4096}, 10_000)
    assert "ret" in pair.call("it", "connect", addr="127.0.0.1", port=5040, options=options)
    assert "ret" in pair.call("peer", "accept")
    events = []
    while len(events) < 50:
        event = pair.call("it", "send", bytes=chunk, dontwait=True)
        assert event["end"]["mono"] - event["start"]["mono"] < 0.5, f"{pair.runtime}: a dontwait send waited: {event}"
        events.append(event)
        if "ret" not in event or event["ret"] == 0 or event.get("buffered"):
            break
    last = events[-1]
    if pair.runtime == "java-socket":
        assert "nonblocking" in last["skipped"] and len(events) == 1, events
    elif pair.runtime == "java-nio":
        assert last["ret"] == 0 and len(events) > 1 and 0 < events[0]["ret"] <= 10_000, events
    elif pair.runtime == "node":   # Node took everything, and holds what the kernel refused
        assert all(e["ret"] == chunk for e in events) and last["buffered"] > 0, events
        assert "returned false" in last["how"], events   # Node holds more than highWaterMark (16 KiB)
    else:
        assert last.get("errno") == "EAGAIN" and "ret" not in last and len(events) > 1, events
        assert 0 < events[0]["ret"] <= 10_000, events
        assert pair.runtime != "go" or "RawConn.Write" in last["how"], last


def test_so_error(pair):
    """getsockopt(SO_ERROR) where the runtime has it: 0 on a healthy socket; after the peer's FIN (CLOSE_WAIT) and
    then its RST, EPIPE (tcp_reset() in CLOSE_WAIT), then 0: reading it cleared it (sock_error()'s xchg); the read
    is then EOF and a write EPIPE. java and node have no API for it: SKIPPED."""
    connect, accept = pair.connected(server="peer", port=5041)
    ours, theirs = connect["local"][1], accept["local"][1]
    first = pair.call("it", "so_error")
    if pair.runtime in (*JAVAS, "node"):
        assert "SO_ERROR" in first["skipped"], first
        return
    assert first["ret"] == 0 and outcome("so_error", first) == 0, first
    assert pair.call("peer", "shutdown", how="WR")["ret"] is None
    pair.wait_ss("in CLOSE-WAIT", lambda t: t.get((ours, theirs), ("",))[0] == "CLOSE-WAIT")
    assert pair.call("peer", "setsockopt", option="SO_LINGER", value=[1, 0])["ret"] is None
    assert pair.call("peer", "close")["ret"] is None   # an abortive close: RST
    pair.wait_ss("reset", lambda t: (ours, theirs) not in t)
    reads = [pair.call("it", "so_error") for _ in range(2)]
    assert [outcome("so_error", r) for r in reads] == ["EPIPE", 0], reads
    assert outcome("recv", pair.call("it", "recv")) == "EOF"
    assert outcome("send", pair.call("it", "send", bytes=1)) == "EPIPE"
    assert pair.call("it", "so_error", sock="nope")["error"]
