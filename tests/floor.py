"""The floor: crash-reset's work written straight against the Docker SDK, as a whole process.

One internal network, two hosts from the lab's host image, a tcpdump beside each
(the lab's capture image and flags) waited for until it listens, crash-reset's
calls made through each host's agent (one exec each, its stdin and stdout
attached), both pcaps copied out, everything removed. No verdict, no report, no
lease, no checks: what `lab run crash-reset` could cost at least. `make bench`
times it beside the lab (tests/bench.py --floor) and prints the ratio.

    python tests/floor.py        (after `make images`; exits 0 when the calls answered)
"""

import io
import json
import random
import secrets
import struct
import sys
import tarfile
import time

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

HOST_IMAGE, CAPTURE_IMAGE = "tcp-fault-lab/host:latest", "tcp-fault-lab/capture:latest"
TCPDUMP = ["tcpdump", "-i", "eth0", "-n", "-p", "--immediate-mode", "-U", "-Z", "root", "-s", "256",
           "-w", "/capture/eth0.pcap"]
# crash-reset's steps, as (host, command); the waits are the agent's own state polls
STEPS = [("server", {"op": "listen", "port": 7000})]
for sock in "abc":
    STEPS += [("client", {"op": "connect", "sock": sock, "addr": "SERVER", "port": 7000}),
              ("server", {"op": "accept", "sock": sock})]
for sock in "ab":
    STEPS += [("client", {"op": "send", "sock": sock, "bytes": 100}), ("server", {"op": "recv", "sock": sock})]
STEPS += [("client", {"op": "close", "sock": s}) for s in "abc"] + [("client", {"op": "exit"})]
STEPS += [("server", {"op": "state", "sock": s, "want": ["CLOSE_WAIT", "LAST_ACK", "CLOSE"]}) for s in "abc"]
for sock, last in (("a", {"op": "recv", "sock": "a"}), ("b", {"op": "send", "sock": "b", "bytes": 100})):
    STEPS += [("server", {"op": "send", "sock": sock, "bytes": 100}),
              ("server", {"op": "state", "sock": sock, "want": ["CLOSE"]}), ("server", last)]
STEPS += [("server", {"op": "send", "sock": "a", "bytes": 100}), ("server", {"op": "close", "sock": "c"})]


class AgentSession:
    """The agent in a host, its stdin and stdout through one attached exec."""

    def __init__(self, api, container):
        exec_id = api.exec_create(container.id, ["python3", "/opt/lab/agent/sockops.py"], stdin=True)["Id"]
        self.sock = api.exec_start(exec_id, socket=True)._sock
        self.buffer = b""
        self.line()  # hello

    def line(self):
        while b"\n" not in self.buffer:
            header = self.read(8)
            self.buffer += self.read(struct.unpack(">BxxxL", header)[1])
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("the agent's stream ended")
            data += chunk
        return data

    def call(self, command):
        self.sock.sendall((json.dumps({"timeout": 5.0, **command}) + "\n").encode())
        return None if command["op"] == "exit" else self.line()


def create_network(client, name):
    """An internal network on a free /24 of the lab's own pool (10.213.0.0/16), as the lab takes one."""
    for _ in range(20):
        subnet = f"10.213.{random.randrange(256)}.0/24"
        try:
            return client.networks.create(name, internal=True, labels={"tcp-fault-lab.floor": name},
                                          ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]))
        except docker.errors.APIError as exc:
            if "overlap" not in str(exc):
                raise
    raise RuntimeError("no free /24 in 10.213.0.0/16")


def main():
    client = docker.from_env()
    run = f"floor-{secrets.token_hex(3)}"
    network = create_network(client, run)
    made = []
    try:
        hosts, captures = {}, {}
        for name in ("server", "client"):
            hosts[name] = client.containers.run(HOST_IMAGE, ["sleep", "infinity"], name=f"{run}-{name}", detach=True,
                                                init=True, cap_drop=["ALL"], network=network.name, hostname=name)
            made.append(hosts[name])
            captures[name] = client.containers.run(CAPTURE_IMAGE, TCPDUMP, name=f"{run}-{name}-capture", detach=True,
                                                   init=True, cap_drop=["ALL"], cap_add=["NET_RAW", "SETGID"],
                                                   network_mode=f"container:{hosts[name].id}")
            made.append(captures[name])
        for capture in captures.values():
            while b"listening on" not in capture.logs():
                time.sleep(0.01)
        hosts["server"].reload()
        server_address = hosts["server"].attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        agents = {name: AgentSession(client.api, host) for name, host in hosts.items()}
        for name, command in STEPS:
            command = {k: server_address if v == "SERVER" else v for k, v in command.items()}
            agents[name].call(command)
        for name, capture in captures.items():
            capture.kill("SIGINT")
            capture.wait(timeout=10)
            stream, _ = capture.get_archive("/capture/eth0.pcap")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                tar.extractfile(tar.getmembers()[0]).read()
    finally:
        for container in reversed(made):
            container.remove(force=True)
        network.remove()


if __name__ == "__main__":
    sys.exit(main())
