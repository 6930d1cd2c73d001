"""One run on the engine: its network, its hosts (containers) and the tcpdump
sidecars beside them. A DockerDeployment holds everything that is the run's
own (labels, lease, network, capture template and image), so the backend
that made it keeps no state of any run.
"""

import io
import tarfile
import time
from dataclasses import dataclass

import docker.errors

from lab.backends.base import Deployment, Host, Sidecar
from lab.backends.compose import COMPOSE_KEYS
from lab.backends.docker_exec import DockerProcess, exec_in
from lab.errors import FaultError, StepTimeout


def run_kwargs(template, image, name, labels, extra_caps=()):
    """docker SDK `containers.run` arguments from a compose service template."""
    kwargs = {k: v for k, v in template.items() if k in COMPOSE_KEYS - {"image", "labels"}}
    kwargs["cap_add"] = sorted(set(template.get("cap_add", [])) | set(extra_caps)) or None
    return dict(kwargs, image=image, name=name, labels={**template.get("labels", {}), **labels}, detach=True)


class DockerSidecar(Sidecar):
    def __init__(self, container, argv):
        self.container = container
        self.path = argv[argv.index("-w") + 1]

    def wait_for_output(self, text, timeout):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.container.logs():
            if time.monotonic() > deadline:
                logs = self.container.logs().decode(errors="replace").strip()
                raise StepTimeout(f"{text!r} not seen within {timeout} s; output: {logs[-200:]!r}")
            time.sleep(0.01)

    def stop(self, timeout):
        try:
            self.container.kill(signal="SIGINT")
        except docker.errors.APIError:
            pass  # already exited
        self.container.wait(timeout=timeout)

    def exec(self, argv):
        return exec_in(self.container, argv)

    @property
    def running(self):
        self.container.reload()
        return self.container.status == "running"

    def copy_out(self, path):
        stream, _ = self.container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            return tar.extractfile(tar.getmembers()[0]).read()


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
        kwargs = run_kwargs(self.capture_template, self.capture_image, f"{container.name}-capture", self.labels)
        kwargs["command"] = [*kwargs["command"], "-c", str(max_packets)]
        with self.lease.creating("container", kwargs["name"]):
            sidecar = self.client.containers.run(network_mode=f"container:{container.id}", **kwargs)
        return DockerSidecar(sidecar, kwargs["command"])
