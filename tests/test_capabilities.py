"""Least privilege, measured: every host and capture program holds the same rights on both backends.

What a program may do is read where the kernel keeps it, /proc/PID/status,
for the agent (a host's long-lived program), a one-shot command in a host
(what faults run), tcpdump and a command beside it (the capture's fence):
in a host with no capability and in one whose faults need NET_ADMIN. The
expected rights are compose.yaml's, so a change there is a change here;
the sysctls that decide what a program without capabilities may do on
its network (low ports, ICMP echo sockets) must agree too.
On the netns backend they also share the machine's file system, which
they must not be able to write (but the captures their pcap folder).
"""

import json
import re
from pathlib import Path

import pytest

from lab.backends.base import HostSpec, Topology
from lab.backends.compose import compose_templates
from lab.capture import Captures
from lab.runner import new_run_id

pytestmark = pytest.mark.docker
FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
CAP_BITS = {"SETGID": 6, "NET_ADMIN": 12, "NET_RAW": 13}  # linux/capability.h
TOPOLOGY = (HostSpec("plain"), HostSpec("admin", caps=("NET_ADMIN",)))
# what a program without capabilities may do on its own network: Docker sets these per container
UNPRIVILEGED = ("ip_unprivileged_port_start", "ping_group_range")


def fields(status):
    """The privilege lines of a /proc/PID/status text."""
    found = dict(re.findall(r"^(\w+):\s+(\S+)", status, re.M))
    return {key: found.get(key) for key in FIELDS}


def expected(caps):
    mask = f"{sum(1 << CAP_BITS[cap] for cap in caps):016x}"
    return {"CapInh": "0" * 16, "CapPrm": mask, "CapEff": mask, "CapBnd": mask, "CapAmb": "0" * 16, "NoNewPrivs": "1"}


def tcpdump_pid(sidecar):
    """The capture's tcpdump: our child on netns, a process of its own container on Docker."""
    process = getattr(sidecar, "process", None)
    return process.popen.pid if process else int(sidecar.exec(["pgrep", "-xo", "tcpdump"]).stdout)


def rights(backend):
    """{program: its privilege fields}, each read from its own /proc/PID/status inside its host."""
    deployment = backend.up(Topology(new_run_id(), TOPOLOGY))
    hosts = deployment.hosts
    try:
        captures = Captures(hosts)
        captures.start()
        seen = {}
        for name, host in hosts.items():
            agent = host.spawn(host.agent_argv)
            pid = json.loads(agent.read_line(10))["pid"]
            seen[f"{name} agent"] = fields(host.exec(["cat", f"/proc/{pid}/status"]).stdout)
            seen[f"{name} command"] = fields(host.exec(["cat", "/proc/self/status"]).stdout)
            sidecar = captures.sidecars[name]
            seen[f"{name} tcpdump"] = fields(sidecar.exec(["cat", f"/proc/{tcpdump_pid(sidecar)}/status"]).stdout)
            seen[f"{name} capture command"] = fields(sidecar.exec(["cat", "/proc/self/status"]).stdout)
            seen[f"{name} sysctls"] = {key: host.exec(["cat", f"/proc/sys/net/ipv4/{key}"]).stdout.split()
                                       for key in UNPRIVILEGED}
        return seen
    finally:
        backend.down(deployment)


def test_every_program_has_the_rights_compose_gives_it_on_both_backends(backend, netns_backend):
    host, capture = compose_templates()[:2]
    want = {}
    for spec in TOPOLOGY:
        want[f"{spec.name} agent"] = want[f"{spec.name} command"] = expected({*host.get("cap_add", ()), *spec.caps})
        want[f"{spec.name} tcpdump"] = want[f"{spec.name} capture command"] = expected(capture["cap_add"])
    on_docker, on_netns = rights(backend), rights(netns_backend)
    assert on_netns == on_docker, "netns and Docker differ"
    assert {program: on_docker[program] for program in want} == want, "not what compose.yaml gives"


@pytest.fixture
def netns_run(netns_backend):
    deployment = netns_backend.up(Topology(new_run_id(), TOPOLOGY))
    try:
        yield deployment
    finally:
        netns_backend.down(deployment)


def test_netns_programs_cannot_write_the_machine_but_captures_their_folder(netns_run):
    host = netns_run.hosts["admin"]
    folder = netns_run.workdir
    for path in ("/etc/tfl-write-probe", "/tmp/tfl-write-probe", f"{folder}/from-host"):
        done = host.exec(["touch", path])
        assert not done.succeeded and "Read-only file system" in done.stderr, (path, done)
    assert host.exec(["touch", f"{folder}/from-capture"], "capture").succeeded
    assert sorted(p.name for p in folder.iterdir()) == ["from-capture"]
    assert host.exec(["iptables", "-S"]).succeeded, "a fault's tool runs in the read-only view"


def test_netns_views_keep_every_mount_flag_and_add_read_only(netns_run):
    """A remount sets a mount's flags anew: nosuid, nodev and noexec must survive it."""
    hosts = netns_run.hosts

    def options(mountinfo):
        return {line.split()[4]: set(line.split()[5].split(",")) for line in mountinfo.splitlines()}

    with open("/proc/self/mountinfo") as mine:
        machine = options(mine.read())
    view = options(hosts["plain"].exec(["cat", "/proc/self/mountinfo"]).stdout)
    both = view.keys() & machine.keys()  # the machine's mounts may come and go meanwhile (other runs)
    both = {point for point in both if point.split("/")[1] != "dev"}  # the view's /dev is its own (below)
    assert "/" in both and "/proc" in both
    for point in both:
        assert "ro" in view[point] and view[point] - {"ro"} == machine[point] - {"rw", "ro"}, point


def test_netns_hosts_see_no_device_a_container_lacks(live, netns_run):
    """A uid-0 program needs no capability to open a disk its owner may write: the view's /dev
    holds only what a container's does, and is read-only too (its devices still work)."""
    _, docker_hosts, _ = live
    host = netns_run.hosts["plain"]
    in_container = set(docker_hosts["server"].exec(["ls", "/dev"]).stdout.split())
    in_view = set(host.exec(["ls", "/dev"]).stdout.split())
    assert {"null", "zero", "urandom"} <= in_view <= in_container
    assert set(Path("/dev").iterdir()) - {Path("/dev", name) for name in in_view}, "the machine has more devices"
    assert host.exec(["sh", "-c", "echo x > /dev/null && head -c 4 /dev/urandom | wc -c"]).stdout.split() == ["4"]
    done = host.exec(["touch", "/dev/sda"])
    assert not done.succeeded and "Read-only file system" in done.stderr
