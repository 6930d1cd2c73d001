"""Hosts as containers on a private Docker network, through the docker SDK.

The container definitions are the ones in compose.yaml (`x-host`,
`x-capture` and the `lab` network), so the topology a person brings up with
`docker-compose up` is the one a run uses; this module only adds what is per
run: a unique name, network and subnet, the run label, the image tags, and
the capabilities a scenario's faults need.

Control traffic rides the engine's API: the agent is an exec whose
stdin/stdout are a hijacked API connection, and pcaps come back with
`get_archive`, so a remote DOCKER_HOST works too.
"""

import io
import ipaddress
import os
import random
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors
import requests.exceptions
from docker.types import IPAMConfig, IPAMPool

from lab import images
from lab.backends import lease
from lab.backends.base import LABEL, Backend, Host, Sidecar
from lab.backends.compose import COMPOSE_KEYS, compose_templates, sysctls
from lab.backends.docker_exec import DockerProcess, exec_in
from lab.errors import FaultError, SetupError, StepTimeout
from lab.owner import Owner

OWNER = "tcp-fault-lab.owner"  # the run's owner (lab/owner.py): boot id, pid namespace, pid, start time
SUBNET_POOL = os.environ.get("LAB_SUBNET_POOL", "10.213.0.0/16")


def run_kwargs(template, image, name, labels, extra_caps=()):
    """docker SDK `containers.run` arguments from a compose service template."""
    kwargs = {k: v for k, v in template.items() if k in COMPOSE_KEYS - {"image", "labels"}}
    kwargs["cap_add"] = sorted(set(template.get("cap_add", [])) | set(extra_caps)) or None
    return dict(kwargs, image=image, name=name, labels={**template.get("labels", {}), **labels}, detach=True)


def spared(labels):
    """Keep a labelled object unless its owner is known to be dead: an owner of
    another machine, boot or container (or an older lab's label) may be alive."""
    owner = Owner.parse(labels.get(OWNER, ""))
    return owner is None or owner.alive() is not False


def connect():
    """A client for the engine, or one clear line on why there is none."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        reason = str(exc).split("(")[0].strip() or type(exc).__name__
        raise SetupError(f"cannot reach the Docker engine at {where}: {reason}") from None


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
    def __init__(self, backend, name, container, address, network, router=False):
        self.backend = backend
        self.container = container
        self.name = name
        self.address = address
        self.network = network
        self.router = router
        self.agent_argv = ["python3", "/opt/lab/sockops.py"]  # put there by images/host/Dockerfile

    def exec(self, argv):
        return exec_in(self.container, argv)

    def spawn(self, argv):
        return DockerProcess(self.backend.client, self.container, argv)

    def start_capture(self, max_packets):
        return self.backend.start_capture(self.container, max_packets)

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
        self.network.disconnect(self.container, force=True)

    def reconnect(self):
        try:
            self.network.connect(self.container, ipv4_address=self.address)
        except docker.errors.APIError as exc:
            if "already exists" not in str(exc):
                raise FaultError(f"cannot reconnect {self.name}: {exc.explanation}") from None


class DockerBackend(Backend):
    name = "docker"

    def __init__(self, client=None, say=lambda msg: None):
        self.client = client or connect()
        self.say = say
        self.host_template, self.capture_template, self.network_template = compose_templates()
        self.tags = None
        self.run_labels = {}
        self.lease = None

    def ensure_images(self):
        self.tags = images.ensure(self.client, self.say)
        return self.tags

    def free_subnet(self):
        used = []
        for net in self.client.api.networks():
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                if "Subnet" in cfg:
                    used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
        candidates = [s for s in ipaddress.ip_network(SUBNET_POOL).subnets(new_prefix=24)
                      if not any(s.overlaps(u) for u in used)]
        if not candidates:
            raise SetupError(f"no free /24 left in {SUBNET_POOL}; run `lab clean` or set LAB_SUBNET_POOL")
        return random.choice(candidates)

    def create_network(self, name, labels):
        for _ in range(5):  # another run may take the same subnet between our look and our create
            subnet = self.free_subnet()
            try:
                with self.lease.creating("network", name):
                    return self.client.networks.create(
                        name, driver=self.network_template.get("driver", "bridge"),
                        internal=self.network_template.get("internal", True), labels=labels,
                        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]),
                    )
            except docker.errors.APIError as exc:
                if "overlap" not in str(exc):
                    raise
        raise SetupError(f"could not allocate a subnet in {SUBNET_POOL}: other networks keep taking them")

    def up(self, topology):
        if self.tags is None:
            self.ensure_images()
        labels = {LABEL: topology.run_id, OWNER: str(Owner.current()), **topology.labels}
        self.run_labels = labels
        self.lease = lease.Lease(self.name, topology.run_id)
        network = self.create_network(f"tfl-{topology.run_id}", labels)

        subnet = ipaddress.ip_network(network.attrs["IPAM"]["Config"][0]["Subnet"])
        # fixed addresses (.10, .11, ...): a restarted or reconnected host comes back at the same one
        addresses = {spec.name: str(subnet[10 + i]) for i, spec in enumerate(topology.hosts)}

        def start_host(spec):
            endpoint = self.client.api.create_endpoint_config(ipv4_address=addresses[spec.name])
            name = f"tfl-{topology.run_id}-{spec.name}"
            with self.lease.creating("container", name):
                container = self.client.containers.run(
                    network=network.name, hostname=spec.name, networking_config={network.name: endpoint},
                    sysctls=sysctls(spec) or None,
                    **run_kwargs(self.host_template, self.tags["host"], name, labels, spec.caps),
                )
            return spec.name, DockerHost(self, spec.name, container, addresses[spec.name], network, spec.router)

        with ThreadPoolExecutor(max_workers=len(topology.hosts)) as pool:
            return dict(pool.map(start_host, topology.hosts))

    def start_capture(self, container, max_packets):
        kwargs = run_kwargs(self.capture_template, self.tags["capture"],
                            f"{container.name}-capture", self.run_labels)
        kwargs["command"] = [*kwargs["command"], "-c", str(max_packets)]
        with self.lease.creating("container", kwargs["name"]):
            sidecar = self.client.containers.run(network_mode=f"container:{container.id}", **kwargs)
        return DockerSidecar(sidecar, kwargs["command"])

    def _remove(self, label_filter, keep=lambda labels: False):
        """Remove labelled containers (sidecars first), then networks; in parallel, gone is fine.

        keep(labels) spares the objects it is true for (the runs of live processes)."""
        api = self.client.api  # plain listings: no inspect that a concurrent removal could race

        def remove_container(c):
            try:
                api.remove_container(c["Id"], force=True)
                return f"container {c['Names'][0].lstrip('/')}"
            except docker.errors.NotFound:
                return None

        def remove_network(n):
            for attempt in range(3):
                try:
                    api.remove_network(n["Id"])
                    return f"network {n['Name']}"
                except docker.errors.NotFound:
                    return None
                except docker.errors.APIError:  # an endpoint still being released
                    time.sleep(0.2 * (attempt + 1))
            raise SetupError(f"cannot remove network {n['Name']}: it still has containers; run `lab clean` again")

        containers = [c for c in api.containers(all=True, filters={"label": label_filter}) if not keep(c["Labels"])]
        networks = [n for n in api.networks(filters={"label": label_filter}) if not keep(n.get("Labels") or {})]
        # a container whose network namespace a sidecar uses cannot go before the sidecar
        sidecars = [c for c in containers if c["Labels"].get("tcp-fault-lab.role") == "capture"]
        others = [c for c in containers if c not in sidecars]
        removed = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            for batch, fn in ((sidecars, remove_container), (others, remove_container), (networks, remove_network)):
                removed += [r for r in pool.map(fn, batch) if r]
        return removed

    def down(self, run_id):
        self._remove(f"{LABEL}={run_id}")
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def clean(self, everything=False):
        """Remove what runs left behind; spare runs whose owner may be alive (a
        concurrent `lab run`, here or in another container), unless everything=True.

        A dead owner's creates still in flight are waited for first, so that
        what the engine finishes after the owner died is removed too."""
        dead = [r for r in lease.leases(self.name).values() if everything or r.dead]
        self.await_creates([c for r in dead for c in r.in_flight])
        removed = self._remove(LABEL, keep=lambda labels: not everything and spared(labels))
        for record in dead:
            record.release()
        return removed

    def await_creates(self, creates):
        """Until the engine shows each create (its event), or LATE_CREATE_TIMEOUT after it began."""
        waiting = {(c.kind, c.name) for c in creates}
        if not waiting:
            return
        since = int(min(c.began for c in creates)) - 1   # events are kept; whole seconds
        until = max(c.began for c in creates) + lease.LATE_CREATE_TIMEOUT
        events = self.client.events(since=since, until=int(until) + 1, decode=True,
                                    filters={"event": "create", "type": ["container", "network"]})
        try:
            for event in events:
                waiting.discard((event.get("Type"), event.get("Actor", {}).get("Attributes", {}).get("name")))
                if not waiting:
                    return
        finally:
            events.close()

    def describe(self):
        info, version = self.client.info(), self.client.version()
        return {
            "backend": self.name,
            "kernel": info["KernelVersion"],
            "engine": version["Version"],
            "images": {name: {"tag": tag, "id": self.client.images.get(tag).id}
                       for name, tag in (self.tags or {}).items()},
        }
