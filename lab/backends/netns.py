"""Hosts as network namespaces on one machine: no engine, only root, iproute2 and tcpdump.

Each run gets a switch namespace holding a bridge, and one namespace per
host joined to it by a veth pair whose inner end is the host's `eth0`.
Nothing is added to the machine's own namespace (no bridge, address, route
or firewall rule there), so runs cannot collide with each other or with
the machine's networking, and every run can use the same subnet.

What Docker does, mapped onto a namespace (so the catalogue gives the same
verdicts on both backends):

- a host's programs are started with `nsenter --net=…` and the
  capabilities, no_new_privs and read-only file system a container of
  their role gets (confine.py); they share the machine's process table
  and programs (a host's agent: its runtime's, built into the cache by
  lab/runtimes.py); the lab's set-up in a namespace runs as root;
- a capture is a tcpdump in the host's namespace; it stops, as a sidecar's
  does, when the host's `eth0` goes away;
- stop: SIGKILL to every process of the host but its capture, wait until
  they are gone (their kernel has then closed their sockets), then remove
  its `eth0` and the namespace; start: a fresh namespace, same address and
  MAC (Docker derives the MAC from the address too);
- pause: SIGSTOP to the same processes (the cgroup freezer's effect: the
  kernel still answers for them); disconnect: remove `eth0`; reconnect:
  a new one at the same address;
- IPv6 is off, as on the lab's Docker network, so no router solicitations
  or multicast reports reach the captures.

A namespace's name carries the run id (`tfl-<run id>-<host>`), and the
run's lease (lease.py) names its owner, so `lab clean` spares live runs and
nothing else: a zombie, a reused pid or an owner of another pid namespace
cannot pass for a live one (lab/owner.py).
"""

import ipaddress
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import runtimes
from lab.backends import lease
from lab.backends.base import Backend, Deployment, ExecResult, Host, Sidecar
from lab.backends.compose import compose_templates, sysctls
from lab.backends.confine import Confinement, PipeProcess, kill_all
from lab.errors import HostGone, SetupError, StepTimeout

NETNS_DIR = Path("/run/netns")
PREFIX = "tfl-"
SUBNET = ipaddress.ip_network("10.213.0.0/24")
# an older lab named its objects tfl-<run>-p<pid>-<host>: not ours to judge, so never matched
NAME = re.compile(r"^tfl-(?P<run>\d{10}-[0-9a-f]{6})-(?!p\d+-)(?P<host>.+)$")
NO_IPV6 = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
# Docker's settings in every container's namespace: any port, and ICMP echo sockets, without a capability
UNPRIVILEGED = {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
TOOLS = ("ip", "nsenter", "setpriv", "tcpdump", "iptables", "tc", "sysctl")


def run(argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SetupError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.returncode}")
    return done


def namespace_sysctls(spec):
    """The router settings Docker applies, its defaults for programs without capabilities, and
    IPv6 off; eth0 inherits "default" (it comes later)."""
    values = {**NO_IPV6, **UNPRIVILEGED, **{k: v for k, v in sysctls(spec).items() if ".eth0." not in k}}
    return [f"{k}={v}" for k, v in values.items()]


def mac_for(address):
    """02:42 and the IPv4 address, as Docker assigns them."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)


def pids_in(netns):
    """Processes whose network namespace is this one."""
    done = run(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in done.stdout.split()]


class NetnsSidecar(Sidecar):
    def __init__(self, host, path, max_packets):
        self.host = host
        self.path = str(path)
        argv = list(compose_templates()[1]["command"])
        argv[argv.index("-w") + 1] = self.path  # the sidecar's own path, in our file system
        self.process = PipeProcess(host.confined([*argv, "-c", str(max_packets)], "capture"))

    def exec(self, argv):
        return self.host.exec(argv, "capture")

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

    def copy_out(self, path):
        return Path(path).read_bytes()


@dataclass
class NetnsDeployment(Deployment):
    index: dict = field(default_factory=dict)   # host name -> its port number on the bridge
    workdir: Path = None                          # the run's capture folder
    lease: object = None
    confinement: object = None

    def netns_name(self, host):
        return f"{PREFIX}{self.run_id}-{host or '_switch'}"  # '_': no host name has one (schema)


class NetnsHost(Host):
    def __init__(self, deployment, spec, address):
        self.deployment = deployment
        self.spec = spec
        self.name = spec.name
        self.address = address
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
        self.exec_checked(["sysctl", "-q", "-w", *namespace_sysctls(self.spec)])
        self.exec_checked(["ip", "link", "set", "lo", "up"])
        self.plug()

    def plug(self):
        switch = self.deployment.netns_name("")
        port = f"p{self.deployment.index[self.name]}"
        run(["ip", "-n", switch, "link", "add", port, "type", "veth",
             "peer", "name", "eth0", "netns", self.netns, "address", mac_for(self.address)])
        run(["ip", "-n", switch, "link", "set", port, "master", "br0", "up"])
        self.exec_checked(["ip", "addr", "add", f"{self.address}/{SUBNET.prefixlen}", "dev", "eth0"])
        self.exec_checked(["ip", "link", "set", "eth0", "up"])

    def exec_checked(self, argv):
        """The lab's own set-up in the namespace: as root, unconfined."""
        done = run(["nsenter", f"--net={NETNS_DIR / self.netns}", "--", *argv], check=False)
        if done.returncode != 0:
            raise SetupError(f"{self.name}: `{' '.join(argv)}` failed: {done.stderr.strip()}")

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


class NetnsBackend(Backend):
    name = "netns"

    def __init__(self):
        missing = [tool for tool in TOOLS if not shutil.which(tool)]
        if missing:
            raise SetupError(f"the netns backend needs {', '.join(missing)}: install them "
                             "(`apt-get install iproute2 util-linux tcpdump iptables procps`)")
        if os.geteuid() != 0:
            raise SetupError("the netns backend needs root (network namespaces, bridges, tcpdump)")

    def ensure_images(self, wanted=("python",)):  # no images: the agents, built once into the cache
        return {f"agent:{name}": str(runtimes.build(name)) for name in wanted}

    def up(self, topology):
        """The run's switch and hosts; on any failure, whatever it had made is removed again."""
        # the lease comes before the first object, so `lab clean` always knows the owner
        deployment = NetnsDeployment(topology.run_id, lease=lease.Lease(self.name, topology.run_id),
                                     index={spec.name: i for i, spec in enumerate(topology.hosts)})
        try:
            deployment.workdir = Path(tempfile.gettempdir()) / deployment.netns_name("_captures")
            deployment.workdir.mkdir(mode=0o700)
            deployment.confinement = Confinement(deployment.workdir)
            switch = deployment.netns_name("")
            run(["ip", "netns", "add", switch])
            run(["ip", "netns", "exec", switch, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in NO_IPV6.items())])
            run(["ip", "-n", switch, "link", "add", "br0", "type", "bridge"])
            run(["ip", "-n", switch, "link", "set", "br0", "up"])
            for i, spec in enumerate(topology.hosts):
                deployment.hosts[spec.name] = NetnsHost(deployment, spec, str(SUBNET[10 + i]))
                deployment.hosts[spec.name].create()
        except BaseException:
            self.down(deployment)
            raise
        return deployment

    def _remove(self, keep=lambda run_id: False, run_id=None):
        """Kill the processes of the runs' namespaces, delete those, and the capture folders."""
        removed = []
        places = [*NETNS_DIR.glob(f"{PREFIX}*"), *Path(tempfile.gettempdir()).glob(f"{PREFIX}*")]
        for place in sorted(places):
            match = NAME.match(place.name)
            if not match or (run_id and match["run"] != run_id) or keep(match["run"]):
                continue
            if place.parent == NETNS_DIR:
                kill_all(pids_in(place.name))
                run(["ip", "netns", "del", place.name], check=False)
                removed.append(f"network namespace {place.name}")
            else:
                shutil.rmtree(place, ignore_errors=True)
                removed.append(f"capture folder {place}")
        return removed

    def down(self, deployment):
        self._remove(run_id=deployment.run_id)
        if deployment.confinement is not None:
            deployment.confinement.close()
        deployment.lease.release()

    def clean(self, everything=False):
        """A run's objects go when its lease is gone or its owner is dead; all of them with everything.
        Its programs were started by its owner here, so nothing it began can land later."""
        leases = lease.leases(self.name)
        live = {run for run, record in leases.items() if not everything and not record.dead}
        removed = self._remove(keep=live.__contains__)
        for run, record in leases.items():
            if run not in live:
                record.release()
        return removed

    def describe(self):
        return {
            "backend": self.name,
            "kernel": platform.release(),
            "engine": run(["ip", "-V"]).stdout.strip(),
            "images": {},
        }

