"""Host state in a live run, asserted with testinfra: what runs, what is granted, what is left."""

import time

import pytest
import testinfra

from lab.backends.base import LABEL
from lab.calls import Agent
from lab.capture import FENCE_TYPE
from lab.errors import SetupError

pytestmark = pytest.mark.docker

# CapEff bits (linux/capability.h)
CAP = {"SETGID": 6, "NET_ADMIN": 12, "NET_RAW": 13}


def caps_of(host):
    hexmask = host.check_output("grep CapEff /proc/1/status").split()[1]
    mask = int(hexmask, 16)
    return {name for name, bit in CAP.items() if mask & (1 << bit)} | ({"other"} if mask & ~sum(1 << b for b in CAP.values()) else set())


def infra(container):
    return testinfra.get_host(f"docker://{container.name}")


def sidecar_of(backend, run_id, name):
    return backend.client.containers.get(f"tfl-{run_id}-{name}-capture")


def test_each_sidecar_runs_tcpdump_on_its_host(backend, live):
    deployment, hosts, _ = live
    run_id = deployment.run_id
    for name in hosts:
        sidecar = infra(sidecar_of(backend, run_id, name))
        tcpdump = sidecar.process.get(comm="tcpdump")
        assert "--immediate-mode" in tcpdump.args and "-U" in tcpdump.args


def test_agent_is_present_and_the_host_runs_nothing_else(live):
    _, hosts, _ = live
    host = infra(hosts["server"].container)
    assert host.file("/opt/lab/agent/sockops.py").exists
    assert host.run("python3 -c 'import ast,sys; ast.parse(open(\"/opt/lab/agent/sockops.py\").read())'").rc == 0
    assert {p.comm for p in host.process.filter()} <= {"docker-init", "sleep", "sh", "ps"}


def test_capabilities_are_only_those_granted(backend, live):
    deployment, hosts, _ = live
    run_id = deployment.run_id
    assert caps_of(infra(hosts["server"].container)) == set()
    assert caps_of(infra(hosts["client"].container)) == {"NET_ADMIN"}
    assert caps_of(infra(sidecar_of(backend, run_id, "server"))) == {"NET_RAW", "SETGID"}


def test_no_privilege_no_host_namespaces_internal_network(backend, live):
    deployment, hosts, _ = live
    run_id = deployment.run_id
    containers = backend.client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"})
    assert len(containers) == 4
    for c in containers:
        config = c.attrs["HostConfig"]
        assert config["Privileged"] is False
        assert config["NetworkMode"] != "host" and config["PidMode"] in ("", "private")
    network = backend.client.networks.get(f"tfl-{run_id}")
    assert network.attrs["Internal"] is True
    assert network.attrs["Labels"][LABEL] == run_id


def test_sidecar_shares_the_host_network_namespace(backend, live):
    deployment, hosts, _ = live
    run_id = deployment.run_id
    host_ns = infra(hosts["server"].container).check_output("readlink /proc/1/ns/net")
    side_ns = infra(sidecar_of(backend, run_id, "server")).check_output("readlink /proc/1/ns/net")
    assert host_ns == side_ns


def test_a_fence_reaches_the_pcap_and_a_downed_eth0_is_told_at_once(live):
    """A fence is a line to the sidecar's fencer (docker_hosts.FENCER), not an exec: its frame is
    in the pcap; with the host's eth0 down the fencer says it could not send, and fence() is False
    at once, as the exec's exit status said before."""
    _, hosts, captures = live
    sidecar = captures.sidecars["client"]
    assert sidecar.fence(FENCE_TYPE + b"first-fence")
    captures.fence(sidecar)  # raises unless tcpdump writes a second one within 5 s
    assert sidecar.holds(b"first-fence")
    assert hosts["client"].exec(["ip", "link", "set", "eth0", "down"]).succeeded
    began = time.monotonic()
    assert sidecar.fence(FENCE_TYPE + b"second-fence") is False
    assert time.monotonic() - began < 2


def test_a_fencer_gone_quiet_is_an_error_not_a_capture_cut_short(live):
    """Without an answer the lab cannot know its last packets are in the pcap: it says so."""
    _, _, captures = live
    sidecar = captures.sidecars["server"]
    assert sidecar.exec(["pkill", "-STOP", "-f", "^python3 -c"]).succeeded
    with pytest.raises(SetupError, match="did not answer within 1.0 s"):
        sidecar.fence(FENCE_TYPE + b"unanswered", timeout=1.0)


def test_control_channel_is_off_the_data_network(live):
    """The agent talks over the engine API: nothing listens off loopback, and the capture sees no lab traffic."""
    _, hosts, captures = live
    server = infra(hosts["server"].container)
    listening = [line.split()[3] for line in server.check_output("ss -Htln").splitlines()]
    assert all(addr.startswith("127.") for addr in listening), listening  # Docker's DNS sits on 127.0.0.11
    agent = Agent(hosts["server"])
    assert agent.call("listen", {"port": 7000}, 2.0)["ret"] is None  # control traffic happened
    pcaps = captures.stop()
    from lab.packets import parse
    assert parse(pcaps["server"], {h.address for h in hosts.values()}) == []


def test_down_removes_everything_of_the_run(backend, live):
    run_id, _, _ = live
    backend.down(run_id)
    assert backend.client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}) == []
    assert backend.client.networks.list(filters={"label": f"{LABEL}={run_id}"}) == []
