"""tcpdump beside each captured host: start, wait until it listens, fence, stop, bring the pcap back.

The sidecar (how it is started is the backend's business) writes every
packet as it arrives; a run's first step waits for tcpdump's "listening on"
line, so no packet of the experiment is missed at the start.

At the end, stopping tcpdump at once could lose the last packets: a busy
machine may not have scheduled tcpdump since they arrived, and on SIGINT
it stops without reading what is still queued (seen here: a capture that
held the ARP before a refused connect but not its SYN and RST). So each
capture is fenced first: one frame goes out of the host's eth0 to its own
MAC address (sent from inside the namespace: on Docker by a fencer in the
sidecar, on netns by a thread of the lab that joins it; the bridge does not
forward it, and packet analysis ignores its ethertype), and we wait until
tcpdump has written it. Packets queue in
order, so everything before the fence is in the pcap too.
"""

import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from lab import packets
from lab.errors import SetupError

LISTENING = "listening on"
FENCE_TYPE = b"\x88\xb5"  # IEEE local experimental ethertype
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

    def fence(self, sidecar, timeout=5.0):
        """Wait until tcpdump has written everything that reached it (see the module's docstring)."""
        marker = f"tcp-fault-lab-fence-{secrets.token_hex(8)}".encode()
        sent = sidecar.fence(FENCE_TYPE + marker)
        deadline = time.monotonic() + timeout
        while sent and not sidecar.holds(marker):
            if not sidecar.running:
                return  # tcpdump ended early (its interface went away): its pcap is all there is
            if time.monotonic() > deadline:
                raise SetupError(f"a capture did not write its last packets within {timeout} s; "
                                 "the machine may be overloaded")
            time.sleep(0.005)

    def stop(self, timeout=10.0):
        """Fence and stop every tcpdump; return {host name: pcap bytes}."""
        def fence_and_stop(name):
            self.fence(self.sidecars[name])
            self.sidecars[name].stop(timeout)

        self._each(fence_and_stop, list(self.sidecars))
        pcaps = {name: sidecar.pcap() for name, sidecar in self.sidecars.items()}
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
