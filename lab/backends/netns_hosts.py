"""One run's network namespaces (see netns.py): its switch, its hosts and their captures.
A NetnsDeployment holds everything that is the run's own, so the backend keeps no state of any run.
"""

import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import runtimes
from lab.backends.base import Deployment, ExecResult, Host, Sidecar
from lab.backends.compose import compose_templates, sysctls
from lab.backends.confine import PipeProcess, kill_all
from lab.backends.in_netns import NETNS_DIR, pids_in, send_to_itself, set_sysctls
from lab.errors import HostGone, SetupError, StepTimeout

PREFIX = "tfl-"
SUBNET = ipaddress.ip_network("10.213.0.0/24")
SUBNET6 = ipaddress.ip_network("fd3c:7a1e:5b09::/64")  # unique-local (RFC 4193), the lab's own global ID
# an older lab named its objects tfl-<run>-p<pid>-<host>: not ours to judge, so never matched
NAME = re.compile(r"^tfl-(?P<run>\d{10}-[0-9a-f]{6})-(?!p\d+-)(?P<host>.+)$")
NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
# Docker's settings in every container's namespace: any port, and ICMP echo sockets, without a capability
UNPRIVILEGED = {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
TOOLS = ("ip", "nsenter", "setpriv", "tcpdump", "iptables", "ip6tables", "tc")


def run(argv, check=True, input=None):
    """One of the lab's own commands (set-up, fault, teardown), run to its end. It starts with
    SIGINT and SIGTERM blocked (a child inherits its parent's mask through exec), so the Ctrl-C or
    SIGTERM that hits the whole process group cannot kill it halfway: an `ip netns del` cut short
    left its namespace behind. The lab takes the signal when the command is done; SIGKILL still
    kills both, so nothing a dead lab began lands later. (Not for everything runner.deferred_interrupts
    holds: the captures start inside it, and must still stop on their SIGINT.)"""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        done = subprocess.run(argv, input=input, capture_output=True, text=True)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    if check and done.returncode != 0:
        raise SetupError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.returncode}")
    return done


def namespace_sysctls(spec, family):
    """The router settings Docker applies, its defaults for programs without capabilities, and
    IPv6 off in an IPv4 run; eth0 inherits "default" (it comes later)."""
    return {**(NO_IPV6 if family == "4" else {}), **UNPRIVILEGED,
            **{k: v for k, v in sysctls(spec, family).items() if ".eth0." not in k}}


def mac_for(address):
    """02:42 and the IPv4 address, as Docker assigns them."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)


def ip_batch(netns, commands):
    """`ip` commands in a namespace, one process for all (in_netns.py: why the fewer the better)."""
    return run(["ip", "-n", netns, "-batch", "-"], input="".join(f"{c}\n" for c in commands))


class NetnsSidecar(Sidecar):
    def __init__(self, host, path, max_packets):
        self.host = host
        self.path = str(path)
        argv = list(compose_templates()[1]["command"])
        argv[argv.index("-w") + 1] = self.path  # the sidecar's own path, in our file system
        self.process = PipeProcess(host.confined([*argv, "-c", str(max_packets)], "capture"))

    def exec(self, argv):
        return self.host.exec(argv, "capture")

    def fence(self, payload):
        return send_to_itself(self.host.netns, payload)

    @property
    def running(self):
        return self.process.returncode is None

    def wait_for_output(self, text, timeout):
        deadline = time.monotonic() + timeout
        while text not in "".join(self.process.stderr):
            if time.monotonic() > deadline or not self.running:
                output = "".join(self.process.stderr).strip()
                raise StepTimeout(f"{text!r} not seen within {timeout} s; output: {output[-200:]!r}")
            time.sleep(0.01)

    def stop(self, timeout):
        if self.running:
            self.process.popen.send_signal(signal.SIGINT)
        self.process.wait(timeout)

    def holds(self, marker):
        return marker in self.pcap()

    def pcap(self):
        return Path(self.path).read_bytes()


@dataclass
class NetnsDeployment(Deployment):
    index: dict = field(default_factory=dict)   # host name -> its port number on the bridge
    workdir: Path = None                          # the run's capture folder
    lease: object = None
    confinement: object = None

    def netns_name(self, host):
        return f"{PREFIX}{self.run_id}-{host or '_switch'}"  # '_': no host name has one (schema)


class NetnsHost(Host):
    def __init__(self, deployment, spec, addresses, family):
        self.deployment = deployment
        self.spec = spec
        self.name = spec.name
        self.addresses, self.family = addresses, family
        self.router = spec.router
        self.netns = deployment.netns_name(spec.name)
        self.captures = []
        # this machine's runtimes run the agent, built into the cache (lab/runtimes.py)
        self.agent_argv = runtimes.get(spec.runtime).argv(runtimes.build(spec.runtime), python=sys.executable)

    def confined(self, argv, role="host"):
        """argv as a program of the host (with its faults' capabilities) or of its capture."""
        caps = self.spec.caps if role == "host" else ()
        return self.deployment.confinement.argv(NETNS_DIR / self.netns, argv, role, caps)

    def exec(self, argv, role="host"):
        if not (NETNS_DIR / self.netns).exists():
            raise HostGone(f"{self.name} is stopped")
        done = subprocess.run(self.confined(argv, role), capture_output=True, text=True)
        return ExecResult(done.returncode, done.stdout, done.stderr)

    def spawn(self, argv):
        return PipeProcess(self.confined(argv))

    def start_capture(self, max_packets):
        sidecar = NetnsSidecar(self, self.deployment.workdir / f"{self.name}-{len(self.captures)}.pcap", max_packets)
        self.captures.append(sidecar)
        return sidecar

    def kill(self, pid, signal_name):
        try:
            os.kill(pid, signal.Signals[signal_name])
            return ExecResult(0, "")
        except (ProcessLookupError, KeyError) as exc:
            return ExecResult(1, "", str(exc))

    def programs(self):
        """The host's processes, its captures excepted (a sidecar is not part of the host)."""
        spared = {c.process.popen.pid for c in self.captures}
        return [p for p in pids_in(self.netns) if p not in spared]

    def create(self):
        """The namespace, its kernel settings, loopback up, and eth0 on the bridge."""
        run(["ip", "netns", "add", self.netns])
        set_sysctls(self.netns, namespace_sysctls(self.spec, self.family))
        self.plug(["link set lo up"])

    def plug(self, first=()):
        """eth0, its far end on the bridge, its addresses, up; `first`: ip commands in the host before those."""
        switch = self.deployment.netns_name("")
        port = f"p{self.deployment.index[self.name]}"
        ip_batch(switch, [f"link add {port} type veth peer name eth0 netns {self.netns} "
                          f"address {mac_for(self.addresses['4'])}", f"link set {port} master br0 up"])
        ip_batch(self.netns, [*first, f"addr add {self.addresses['4']}/{SUBNET.prefixlen} dev eth0",
                              *([f"addr add {self.addresses['6']}/{SUBNET6.prefixlen} dev eth0 nodad"]
                                if "6" in self.addresses else []),
                              "link set eth0 up"])

    def stop(self):
        kill_all(self.programs())
        self.disconnect()
        run(["ip", "netns", "del", self.netns], check=False)

    def start(self):
        self.create()

    def pause(self):
        for pid in self.programs():
            os.kill(pid, signal.SIGSTOP)

    def unpause(self):
        for pid in self.programs():
            os.kill(pid, signal.SIGCONT)

    def disconnect(self):
        run(["ip", "-n", self.netns, "link", "del", "eth0"], check=False)

    def reconnect(self):
        if "eth0" not in run(["ip", "-n", self.netns, "-o", "link", "show", "eth0"], check=False).stdout:
            self.plug()
