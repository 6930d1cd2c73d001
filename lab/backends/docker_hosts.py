"""One run on the engine: its network, its hosts (containers) and the tcpdump
sidecars beside them. A DockerDeployment holds everything that is the run's
own (labels, lease, network, capture template and image), so the backend
that made it keeps no state of any run.
"""

import threading
from dataclasses import dataclass

import docker.errors

from lab.backends.base import Deployment, Host, Sidecar
from lab.backends.compose import COMPOSE_KEYS
from lab.backends.docker_exec import DockerProcess, exec_in, read_frame
from lab.errors import FaultError, StepTimeout

# a sidecar's fence (DockerSidecar.fence): the capture image has python3, and tcpdump cannot send
SEND_TO_ITSELF = ("import socket, sys; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0)); "
                  "mac = s.getsockname()[4]; s.send(mac + mac + bytes.fromhex(sys.argv[1]))")


def run_kwargs(template, image, name, labels, extra_caps=()):
    """docker SDK `containers.run` arguments from a compose service template."""
    kwargs = {k: v for k, v in template.items() if k in COMPOSE_KEYS - {"image", "labels"}}
    kwargs["cap_add"] = sorted(set(template.get("cap_add", [])) | set(extra_caps)) or None
    return dict(kwargs, image=image, name=name, labels={**template.get("labels", {}), **labels}, detach=True)


class DockerSidecar(Sidecar):
    """tcpdump in a container of its own, in its host's network namespace, writing the pcap to its
    stdout: the lab reads it, and tcpdump's stderr, from an attach stream opened before the
    container starts, so no byte is missed. compose.yaml's sidecar writes a file, which a person
    reads after `docker-compose up`; a run's does not, as each look at a container's file costs
    the engine a process: the fence's grep an exec each, the copy at the end (get_archive) a
    re-exec of dockerd. Without them the catalogue took 77 s of CPU instead of 90 s (2 cores,
    2026-11-29)."""

    def __init__(self, container):
        self.container, self.data, self.errors = container, bytearray(), bytearray()
        self.ended, self.changed = threading.Event(), threading.Condition()
        self.sock = container.attach_socket(params={"stdout": 1, "stderr": 1, "stream": 1})._sock
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        try:
            while (frame := read_frame(self.sock)) is not None:
                stream, data = frame
                with self.changed:
                    (self.errors if stream == 2 else self.data).extend(data)
                    self.changed.notify_all()
        except OSError:
            pass  # the connection was closed under us at teardown
        finally:
            self.sock.close()
            with self.changed:
                self.ended.set()
                self.changed.notify_all()

    def wait_for_output(self, text, timeout):
        with self.changed:
            if not self.changed.wait_for(lambda: text.encode() in self.errors or self.ended.is_set(), timeout) \
                    or text.encode() not in self.errors:
                output = self.errors.decode(errors="replace").strip()
                raise StepTimeout(f"{text!r} not seen within {timeout} s; output: {output[-200:]!r}")

    def fence(self, payload):
        return self.exec(["python3", "-c", SEND_TO_ITSELF, payload.hex()]).succeeded

    def holds(self, marker):
        return marker in self.data

    def stop(self, timeout):
        try:
            self.container.kill(signal="SIGINT")
        except docker.errors.APIError:
            pass  # already exited
        if not self.ended.wait(timeout):
            raise StepTimeout(f"tcpdump in {self.container.name} did not stop within {timeout} s")

    def pcap(self):
        return bytes(self.data)

    def exec(self, argv):
        return exec_in(self.container, argv)

    @property
    def running(self):
        return not self.ended.is_set()


class DockerHost(Host):
    def __init__(self, deployment, name, container, addresses, family="4", router=False, agent_argv=()):
        self.deployment = deployment
        self.container = container
        self.name = name
        self.addresses, self.family = addresses, family
        self.router = router
        self.agent_argv = list(agent_argv)

    def exec(self, argv):
        return exec_in(self.container, argv)

    def spawn(self, argv):
        return DockerProcess(self.container.client, self.container, argv)

    def start_capture(self, max_packets):
        return self.deployment.start_capture(self.container, max_packets)

    def kill(self, pid, signal):
        return self.exec(["kill", "-s", signal.removeprefix("SIG"), str(pid)])

    def stop(self):
        self.container.stop(timeout=0)

    def start(self):
        self.container.start()

    def pause(self):
        self.container.pause()

    def unpause(self):
        try:
            self.container.unpause()
        except docker.errors.APIError as exc:
            if "not paused" not in str(exc):
                raise FaultError(f"cannot unpause {self.name}: {exc.explanation}") from None

    def disconnect(self):
        self.deployment.network.disconnect(self.container, force=True)

    def reconnect(self):
        try:
            self.deployment.network.connect(self.container, ipv4_address=self.addresses["4"],
                                            ipv6_address=self.addresses.get("6"))
        except docker.errors.APIError as exc:
            if "already exists" not in str(exc):
                raise FaultError(f"cannot reconnect {self.name}: {exc.explanation}") from None



@dataclass
class DockerDeployment(Deployment):
    client: object = None
    labels: dict = None
    lease: object = None
    network: object = None
    capture_template: dict = None
    capture_image: str = ""

    def start_capture(self, container, max_packets):
        """The sidecar, created, attached to (DockerSidecar), then started; the pcap goes to tcpdump's
        stdout (`-w -`) and to no log."""
        kwargs = run_kwargs(self.capture_template, self.capture_image, f"{container.name}-capture", self.labels)
        command = list(kwargs.pop("command"))  # the template's own list: not to be changed
        command[command.index("-w") + 1] = "-"
        kwargs.pop("detach")
        with self.lease.creating("container", kwargs["name"]):
            created = self.client.containers.create(network_mode=f"container:{container.id}",
                                                    command=[*command, "-c", str(max_packets)],
                                                    log_config={"type": "none"}, **kwargs)
        sidecar = DockerSidecar(created)
        created.start()
        return sidecar
