"""The floor: crash-reset's work written straight against the Docker SDK, as a whole process.

One internal network, two hosts from the lab's host image, a tcpdump beside each
(the lab's capture image and flags, the pcap on its stdout, read from an attach
stream as the lab reads it) waited for until it listens, crash-reset's calls
made through each host's agent (one exec each, its stdin and stdout attached),
both pcaps read to their end, everything removed. No verdict, no report, no
lease, no checks: what `lab run crash-reset` could cost at least. `make bench`
times it beside the lab (tests/bench.py --floor) and prints the ratio.

    python tests/floor.py        (after `make images`; exits 0 when the calls answered)
"""

import json
import random
import secrets
import struct
import sys

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

HOST_IMAGE, CAPTURE_IMAGE = "tcp-fault-lab/host:latest", "tcp-fault-lab/capture:latest"
TCPDUMP = ["tcpdump", "-i", "eth0", "-n", "-p", "--immediate-mode", "-U", "-Z", "root", "-s", "256",
           "-w", "-"]
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
        data = read(self.sock, n)
        if len(data) < n:
            raise EOFError("the agent's stream ended")
        return data

    def call(self, command):
        self.sock.sendall((json.dumps({"timeout": 5.0, **command}) + "\n").encode())
        return None if command["op"] == "exit" else self.line()


class Capture:
    """tcpdump beside a host, its stdout (the pcap) and stderr read from one attach stream."""

    def __init__(self, client, name, host):
        self.container = client.containers.create(CAPTURE_IMAGE, TCPDUMP, name=name, init=True, cap_drop=["ALL"],
                                                  cap_add=["NET_RAW", "SETGID"], log_config={"type": "none"},
                                                  network_mode=f"container:{host.id}")
        self.sock = self.container.attach_socket(params={"stdout": 1, "stderr": 1, "stream": 1})._sock
        self.container.start()
        self.out, self.err = b"", b""

    def frame(self):
        """Read one frame of the stream into out or err; False at its end."""
        header = read(self.sock, 8)
        if not header:
            return False
        stream, size = struct.unpack(">BxxxL", header)
        data = read(self.sock, size)
        if stream == 2:
            self.err += data
        else:
            self.out += data
        return True

    def wait_listening(self):
        while b"listening on" not in self.err:
            if not self.frame():
                raise EOFError("tcpdump ended before it listened")

    def finish(self):
        self.container.kill("SIGINT")
        while self.frame():
            pass
        self.sock.close()
        return self.out


def read(sock, n):
    """n bytes from sock, or fewer at its end."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


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
            captures[name] = Capture(client, f"{run}-{name}-capture", hosts[name])
            made.append(captures[name].container)
        for capture in captures.values():
            capture.wait_listening()
        hosts["server"].reload()
        server_address = hosts["server"].attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        agents = {name: AgentSession(client.api, host) for name, host in hosts.items()}
        for name, command in STEPS:
            command = {k: server_address if v == "SERVER" else v for k, v in command.items()}
            agents[name].call(command)
        for capture in captures.values():
            capture.finish()
    finally:
        for container in reversed(made):
            container.remove(force=True)
        network.remove()


if __name__ == "__main__":
    sys.exit(main())
