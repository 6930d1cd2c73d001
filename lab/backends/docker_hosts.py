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
from lab.errors import FaultError, SetupError, StepTimeout

# A sidecar's fencer (DockerSidecar.fence): beside tcpdump, which cannot send, a python3 (the capture
# image has it) reads a hex frame per line of its stdin and sends it out of eth0 to eth0's own MAC,
# binding each time (a host disconnected and connected again has a new eth0); it answers on stderr.
FENCER = """import socket, sys
for line in sys.stdin:
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind(("eth0", 0))
            mac = s.getsockname()[4]
            s.send(mac + mac + bytes.fromhex(line))
        print("fence sent", line.strip(), file=sys.stderr, flush=True)
    except OSError as exc:
        print("fence failed", line.strip(), exc, file=sys.stderr, flush=True)
"""
# sh starts the fencer on the container's stdin (kept as fd 3: a background job's own stdin is
# /dev/null), then becomes tcpdump, so docker-init's SIGINT reaches tcpdump; $0 is the fencer, "$@" tcpdump
WITH_FENCER = ["sh", "-c", 'exec 3<&0; python3 -c "$0" <&3 3<&- & exec "$@" 3<&-', FENCER]


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
    2026-11-29). For the same reason a fence is a line written to the sidecar's fencer (FENCER)
    on the same stream's stdin, not an exec: the catalogue made 78 of them, each a runc exec."""

    def __init__(self, container):
        self.container, self.data, self.errors = container, bytearray(), bytearray()
        self.ended, self.changed = threading.Event(), threading.Condition()
        self.sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})._sock
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

    def fence(self, payload, timeout=5.0):
        frame = payload.hex()
        try:
            self.sock.sendall(frame.encode() + b"\n")
        except OSError:
            return False  # the sidecar is gone
        answers = (f"fence sent {frame}".encode(), f"fence failed {frame}".encode())
        with self.changed:
            if not self.changed.wait_for(lambda: any(a in self.errors for a in answers) or self.ended.is_set(),
                                         timeout):  # a fencer gone quiet: no fence, and no silent capture cut
                raise SetupError(f"the fencer beside tcpdump in {self.container.name} did not answer within "
                                 f"{timeout} s; the machine may be overloaded")
            return answers[0] in self.errors

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
        stdout (`-w -`) and to no log; the fencer beside it reads the stream's stdin."""
        kwargs = run_kwargs(self.capture_template, self.capture_image, f"{container.name}-capture", self.labels)
        command = list(kwargs.pop("command"))  # the template's own list: not to be changed
        command[command.index("-w") + 1] = "-"
        kwargs.pop("detach")
        with self.lease.creating("container", kwargs["name"]):
            created = self.client.containers.create(network_mode=f"container:{container.id}",
                                                    command=[*WITH_FENCER, *command, "-c", str(max_packets)],
                                                    stdin_open=True, log_config={"type": "none"}, **kwargs)
        sidecar = DockerSidecar(created)
        created.start()
        return sidecar
