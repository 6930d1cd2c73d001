"""tcpdump beside each captured host: start, wait until it listens, stop, bring the pcap back.

The sidecar (how it is started is the backend's business) writes every
packet as it arrives; a run's first step waits for tcpdump's "listening on"
line, so no packet of the experiment is missed at the start, and its last
steps wait on observable conditions, so none is missed at the end.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from lab import packets
from lab.errors import SetupError

LISTENING = "listening on"
# tcpdump stops after this many packets (-c): a runaway scenario cannot fill the disk
MAX_PACKETS = int(os.environ.get("LAB_CAPTURE_PACKETS", "100000"))


class Captures:
    def __init__(self, hosts):
        """hosts: {name: Host} of the hosts to capture on."""
        self.hosts = hosts
        self.sidecars = {}

    def start(self, timeout=10.0):
        def start_one(name):
            sidecar = self.hosts[name].start_capture(MAX_PACKETS)
            self.sidecars[name] = sidecar
            sidecar.wait_for_output(LISTENING, timeout)

        self._each(start_one, list(self.hosts))

    def stop(self, timeout=10.0):
        """Stop every tcpdump and return {host name: pcap bytes}."""
        self._each(lambda name: self.sidecars[name].stop(timeout), list(self.sidecars))
        pcaps = {name: sidecar.copy_out(sidecar.path) for name, sidecar in self.sidecars.items()}
        for name, pcap in pcaps.items():
            if packets.count(pcap) >= MAX_PACKETS:
                raise SetupError(f"the capture beside {name} hit its cap of {MAX_PACKETS} packets, so it is "
                                 "incomplete; raise LAB_CAPTURE_PACKETS or make the scenario move less data")
        return pcaps

    @staticmethod
    def _each(fn, names):
        if not names:
            return
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(fn, names))
