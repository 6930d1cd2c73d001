"""Hosts as network namespaces on one machine: no engine, only root, iproute2 and tcpdump.

Each run gets a switch namespace holding a bridge, and one namespace per
host joined to it by a veth pair whose inner end is the host's `eth0`.
Nothing is added to the machine's own namespace (no bridge, address, route
or firewall rule there), so runs cannot collide with each other or with
the machine's networking, and every run can use the same subnet.

What Docker does, mapped onto a namespace (so the catalogue gives the same
verdicts on both backends):

- a host's programs run under `nsenter --net=…` with the capabilities,
  no_new_privs and read-only file system a container of their role gets
  (confine.py); they share the machine's process table and programs (the
  agent: its runtime's, built into the cache by lab/runtimes.py); the lab's
  set-up in a namespace runs as root;
- a capture is a tcpdump in the host's namespace; it stops, as a sidecar's
  does, when the host's `eth0` goes away;
- stop: SIGKILL to every process of the host but its capture, wait until
  they are gone (their kernel has closed their sockets), remove `eth0` and
  the namespace; start: a fresh namespace, same addresses and MAC (Docker
  derives the MAC from the address too);
- pause: SIGSTOP to the same processes (the cgroup freezer's effect: the
  kernel still answers for them); disconnect: remove `eth0`; reconnect: a
  new one at the same addresses;
- IPv6 is off in an IPv4 run (no router solicitations or multicast reports
  on the captures); in an IPv6 run each host also gets a fixed unique-local
  address, set up as on the Docker network (compose.py);
- names: the programs' read-only view has the run's own /etc/hosts, every
  host by each of its addresses, as a container's has by the engine.

The run's own objects (switch, hosts, captures) are a NetnsDeployment in
netns_hosts.py. A namespace's name carries the run id (`tfl-<run id>-<host>`), and the
run's lease (lease.py) names its owner, so `lab clean` spares live runs and
nothing else: a zombie, a reused pid or an owner of another pid namespace
cannot pass for a live one (lab/owner.py).
"""

import os
import platform
import shutil
import tempfile
from pathlib import Path

from lab import runtimes
from lab.backends import lease
from lab.backends.base import Backend, names_file
from lab.backends.confine import Confinement, kill_all
from lab.backends.in_netns import NETNS_DIR, pids_in, set_sysctls
from lab.backends.netns_hosts import (NAME, NO_IPV6, PREFIX, SUBNET, SUBNET6, TOOLS, NetnsDeployment, NetnsHost,
                                      ip_batch, run)
from lab.errors import SetupError


class NetnsBackend(Backend):
    name = "netns"

    def __init__(self):
        missing = [tool for tool in TOOLS if not shutil.which(tool)]
        if missing:
            raise SetupError(f"the netns backend needs {', '.join(missing)}: install them "
                             "(`apt-get install iproute2 util-linux tcpdump iptables`)")
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
            addresses = [{"4": str(SUBNET[10 + i]), **({"6": str(SUBNET6[10 + i])} if topology.family == "6" else {})}
                         for i in range(len(topology.hosts))]
            names = Path(tempfile.gettempdir()) / deployment.netns_name("_names")  # removed with the captures
            names.mkdir(mode=0o700)
            hosts_file = names / "hosts"
            hosts_file.write_text(names_file({spec.name: a for spec, a in zip(topology.hosts, addresses)}))
            deployment.confinement = Confinement(deployment.workdir, hosts_file)
            switch = deployment.netns_name("")
            run(["ip", "netns", "add", switch])
            set_sysctls(switch, NO_IPV6)
            ip_batch(switch, ["link add br0 type bridge", "link set br0 up"])
            for spec, host_addresses in zip(topology.hosts, addresses):
                deployment.hosts[spec.name] = NetnsHost(deployment, spec, host_addresses, topology.family)
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

