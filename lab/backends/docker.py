"""Hosts as containers on a private Docker network, through the docker SDK.

The container definitions are the ones in compose.yaml (`x-host`,
`x-capture` and the `lab` network), so the topology a person brings up with
`docker-compose up` is the one a run uses; this module only adds what is per
run: a unique name, network and subnet, the run label, the image tags, and
the capabilities a scenario's faults need.

The run's own objects are a DockerDeployment (docker_hosts.py). Control
traffic rides the engine's API: the agent is an exec whose
stdin/stdout are a hijacked API connection, and each tcpdump writes its pcap
to such a connection too (docker_hosts.DockerSidecar), so a remote
DOCKER_HOST works too.
"""

import ipaddress
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors
import requests.exceptions
from docker.types import IPAMConfig, IPAMPool

from lab import images, runtimes
from lab.backends import lease
from lab.backends.base import LABEL, Backend
from lab.backends.compose import compose_templates, sysctls
from lab.backends.docker_hosts import DockerDeployment, DockerHost, run_kwargs
from lab.errors import SetupError
from lab.owner import Owner

OWNER = "tcp-fault-lab.owner"  # the run's owner (lab/owner.py): boot id, pid namespace, pid, start time
AGENT_DIR = "/opt/lab/agent"  # where images/host/Dockerfile puts the host's agent
SUBNET_POOL = os.environ.get("LAB_SUBNET_POOL", "10.213.0.0/16")
# unique-local (RFC 4193) under the lab's own global ID: an IPv6 run's /64
SUBNET6_POOL = os.environ.get("LAB_SUBNET6_POOL", "fd3c:7a1e:5b09::/48")


def free_in(pool, prefix, used, variable):
    """A random /prefix of pool that overlaps no used network (a /48 has 65536 /64s: tried, not listed)."""
    count = 2 ** (prefix - pool.prefixlen)
    size = 2 ** (pool.max_prefixlen - prefix)
    for index in random.sample(range(count), min(count, 4096)):
        subnet = ipaddress.ip_network((pool.network_address + index * size, prefix))
        if not any(subnet.version == u.version and subnet.overlaps(u) for u in used):
            return subnet
    raise SetupError(f"no free /{prefix} left in {pool}; run `lab clean` or set {variable}")


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
        if client.api.base_url.startswith("http+docker://"):  # a Unix socket: no proxy to look up per call
            client.api.trust_env = False
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        reason = str(exc).split("(")[0].strip() or type(exc).__name__
        raise SetupError(f"cannot reach the Docker engine at {where}: {reason}") from None


class DockerBackend(Backend):
    name = "docker"

    def __init__(self, client=None, say=lambda msg: None):
        self.client = client or connect()
        self.say = say
        self.host_template, self.capture_template, self.network_template = compose_templates()
        self.tags = None  # the images, shared by every run of this backend object

    def ensure_images(self, wanted=("python",)):
        """The images' tags, each runtime's checked (and built if missing) once per backend object."""
        if self.tags is None or any(f"host:{name}" not in self.tags for name in wanted):
            self.tags = {**(self.tags or {}), **images.ensure(self.client, self.say, wanted)}
        return self.tags

    def free_subnets(self, family):
        """A free /24 of SUBNET_POOL, and in an IPv6 run a free /64 of SUBNET6_POOL."""
        used = []
        for net in self.client.api.networks():
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                if "Subnet" in cfg:
                    used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
        pools = [(SUBNET_POOL, 24, "LAB_SUBNET_POOL")] + ([(SUBNET6_POOL, 64, "LAB_SUBNET6_POOL")] if family == "6" else [])
        return [free_in(ipaddress.ip_network(pool), prefix, used, variable) for pool, prefix, variable in pools]

    def create_network(self, name, labels, held, family):
        for _ in range(5):  # another run may take the same subnet between our look and our create
            subnets = self.free_subnets(family)
            try:
                with held.creating("network", name):
                    return self.client.networks.create(
                        name, driver=self.network_template.get("driver", "bridge"),
                        internal=self.network_template.get("internal", True), labels=labels,
                        enable_ipv6=family == "6",
                        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(s)) for s in subnets]),
                    )
            except docker.errors.APIError as exc:
                if "overlap" not in str(exc):
                    raise
        raise SetupError(f"could not allocate a subnet in {SUBNET_POOL}: other networks keep taking them")

    def up(self, topology):
        """The run's network and hosts; on any failure, whatever it had made is removed again."""
        wanted = {spec.runtime for spec in topology.hosts}
        if self.tags is None or any(f"host:{r}" not in self.tags for r in wanted):
            self.ensure_images(sorted(wanted))
        labels = {LABEL: topology.run_id, OWNER: str(Owner.current()), **topology.labels}
        deployment = DockerDeployment(topology.run_id, client=self.client, labels=labels,
                                      lease=lease.Lease(self.name, topology.run_id),
                                      capture_template=self.capture_template, capture_image=self.tags["capture"])
        try:
            deployment.network = self.create_network(f"tfl-{topology.run_id}", labels, deployment.lease,
                                                     topology.family)
            deployment.hosts = self.start_hosts(deployment, topology)
        except BaseException:
            self.down(deployment)
            raise
        return deployment

    def start_hosts(self, deployment, topology):
        network = deployment.network
        subnets = {str(s.version): s for s in (ipaddress.ip_network(c["Subnet"]) for c in network.attrs["IPAM"]["Config"])}
        # fixed addresses (.10, .11, ...; ::a, ::b, ...): a restarted or reconnected host comes back at the same ones
        addresses = {spec.name: {f: str(s[10 + i]) for f, s in subnets.items()} for i, spec in enumerate(topology.hosts)}

        def start_host(spec):
            endpoint = self.client.api.create_endpoint_config(ipv4_address=addresses[spec.name]["4"],
                                                              ipv6_address=addresses[spec.name].get("6"))
            name = f"tfl-{topology.run_id}-{spec.name}"
            with deployment.lease.creating("container", name):
                container = self.client.containers.run(
                    network=network.name, hostname=spec.name, networking_config={network.name: endpoint},
                    sysctls=sysctls(spec, topology.family) or None,
                    # every host by name, as the netns backend's /etc/hosts has them (base.names_file)
                    extra_hosts=[f"{host}:{a}" for host, by_family in addresses.items() for a in by_family.values()],
                    **run_kwargs(self.host_template, self.tags[f"host:{spec.runtime}"], name, deployment.labels,
                                 spec.caps),
                )
            return spec.name, DockerHost(deployment, spec.name, container, addresses[spec.name], topology.family,
                                         spec.router, runtimes.get(spec.runtime).argv(AGENT_DIR))

        with ThreadPoolExecutor(max_workers=len(topology.hosts)) as pool:
            return dict(pool.map(start_host, topology.hosts))

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

    def down(self, deployment):
        self._remove(f"{LABEL}={deployment.run_id}")
        deployment.lease.release()

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
