"""Kill sweep: SIGKILL to `make scenario`'s whole process group at seeded points,
each followed at once by one `lab clean`, while a run of another owner goes on.

    python tests/killsweep.py --backend docker --kills 60   (or: make killsweep BACKEND=docker KILLS=60)

This is what a CI runner or `kill -9 -- -PGID` does to a user's run. The
sweep makes this process a child subreaper, so each killed `lab` becomes
its child and stays an unreaped zombie until the clean has run: the case
where a pid check (`kill(pid, 0)`) calls a dead run alive. After each clean
it counts what is left of dead owners (containers, networks, namespaces,
capture folders, programs, leases), at once and again 10 s later with no
second clean. On Docker it also follows the engine's events, to report how
long after the kill the dead run's last create landed. At the end the live
run must have passed every run it completed (no clean touched it), and,
with the live run gone too, the machine's firewall, routes, links and
addresses must be as before the sweep (less the networks of others' runs
that exist then: a shared machine's engine is not the sweep's). tests/test_interrupt.py runs a short sweep; this prints figures.
"""

import argparse
import ctypes
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import machine_state  # noqa: E402  (tests/, beside this file)
from lab.backends import lease  # noqa: E402
from lab.backends.base import LABEL  # noqa: E402
from lab.backends.docker import OWNER  # noqa: E402
from lab.backends.netns import NAME, NETNS_DIR, PREFIX  # noqa: E402
from lab.cache import cache_dir  # noqa: E402
from lab.owner import Owner  # noqa: E402

PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG = 36, 1
# a veth pair the engine is making for a container: both ends still in the machine's namespace, down
UNPLUGGED_PAIR = re.compile(r"veth\w+@veth\w+:? ?<[^>]*> .* state DOWN")
SCENARIOS = ["crash-reset", "kill-unread-data", "connect-refused", "reject-by-router"]
LIVE_SCENARIO = "crash-reset"
PROGRAMS = (str(cache_dir() / "agents"), f"/tmp/{PREFIX}")  # a netns agent (lab/runtimes.py), a netns tcpdump


def lab(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True, **kwargs)


def dead(owner_text):
    return Owner.parse(owner_text) is None or Owner.parse(owner_text).alive() is False


def docker_leftovers(client):
    api = client.api
    containers = [c["Names"][0] for c in api.containers(all=True, filters={"label": LABEL})
                  if dead(c["Labels"].get(OWNER, ""))]
    networks = [n["Name"] for n in api.networks(filters={"label": LABEL})
                if dead((n.get("Labels") or {}).get(OWNER, ""))]
    return containers + networks


def netns_namespaces():
    return {os.stat(p).st_ino for p in NETNS_DIR.glob(f"{PREFIX}*")}


def netns_leftovers():
    """Dead runs' namespaces and capture folders, and lab programs whose namespace is gone: a
    killed run's programs are orphans, handed to this sweep as subreaper (programs of other
    tests, in namespaces of their own, are not; a namespace made while /proc is read counts)."""
    places = [*NETNS_DIR.glob(f"{PREFIX}*"), *Path("/tmp").glob(f"{PREFIX}*")]
    # leases after the listing: a run takes its lease before its first object, and drops it after its last
    live = {run for run, record in lease.leases("netns").items() if not record.dead}
    found = [str(p) for p in places if NAME.match(p.name) and NAME.match(p.name)["run"] not in live and p.exists()]
    existing, machine_ns, orphaned = netns_namespaces(), os.stat("/proc/self/ns/net").st_ino, {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            netns = os.stat(proc / "ns/net").st_ino
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue  # gone meanwhile
        if any(p in cmdline for p in PROGRAMS) and parent == os.getpid() and netns not in existing \
                and netns != machine_ns:
            orphaned[proc] = (netns, cmdline)
    existing |= netns_namespaces()
    for proc, (netns, cmdline) in orphaned.items():
        if netns not in existing and proc.exists():
            found.append(f"process {proc.name}: {cmdline[:60]}")  # its namespace was deleted under it
    return found


def machine_network(live_words):
    """The machine's network in both families (machine_state.py), less lines naming a network
    that exists (live_words() before and after the reading: a live run may make one meanwhile)."""
    before = live_words()
    lines = machine_state.lines()
    live_words = (*before, *live_words())
    return sorted(re.sub(r"\[\d+:\d+\]|@if\d+|\d+: ", "", line) for line in lines
                  if not any(w in line for w in live_words) and not UNPLUGGED_PAIR.search(line))


@dataclass
class Sweep:
    backend: str
    kills: int
    seed: str = "killsweep"
    client: object = None
    creates: list = field(default_factory=list)   # (time, kind, name) from the engine's events

    def leftovers(self):
        found = docker_leftovers(self.client) if self.backend == "docker" else netns_leftovers()
        found += [f"lease {r.path.name}" for r in lease.leases(self.backend).values() if r.dead]
        return found

    def live_words(self):
        """What names the Docker networks that exist now: their bridges (docker0 too), subnets, and the
        veths plugged into those bridges; only these lines are left out of the comparison."""
        if self.client is None:
            return ()
        words = ["docker0"]
        for net in self.client.api.networks():
            words.append(f"br-{net['Id'][:12]}")
            words += [cfg["Subnet"] for cfg in (net.get("IPAM") or {}).get("Config") or [] if "Subnet" in cfg]
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()
        veths = [line.split(": ")[1].split("@")[0] for line in links
                 if any(f"master {bridge} " in line for bridge in words)]
        return (*words, *(f" {veth} " for veth in veths), *(f" {veth}@" for veth in veths))

    def follow_events(self, stop):
        events = self.client.events(decode=True, filters={"event": "create", "type": ["container", "network"]})
        stop.append(events.close)
        try:
            for e in events:
                self.creates.append((e["timeNano"] / 1e9, e["Type"], e["Actor"]["Attributes"].get("name", "")))
        except Exception:  # the stream is closed at the end of the sweep
            pass

    def kill_one(self, name, delay, out):
        """make scenario, SIGKILL to its process group after delay; returns (kill time, the group's
        processes handed to us, all dead and unreaped: the zombies a pid check would call alive)."""
        make = subprocess.Popen(["make", "-s", "scenario", f"NAME={name}", f"BACKEND={self.backend}", f"OUT={out}"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        os.killpg(make.pid, signal.SIGKILL)
        killed_at = time.time()
        make.wait()
        deadline = time.monotonic() + 5
        while not all(state == "Z" for state in self.killed(make.pid).values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        return killed_at, [pid for pid, state in self.killed(make.pid).items() if state == "Z"]

    def durations(self, out):
        """How long an uninterrupted `make scenario` of each takes here, so that every kill lands
        inside its run (a netns run can be over before a fixed delay has passed)."""
        whole = {}
        for name in SCENARIOS:
            started = time.monotonic()
            subprocess.run(["make", "-s", "scenario", f"NAME={name}", f"BACKEND={self.backend}", f"OUT={out}"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            whole[name] = time.monotonic() - started
        return whole

    @staticmethod
    def killed(group):
        """{pid: state} of our children from the killed process group: its `lab` and the programs it
        started, handed to us as subreaper when make died (other children of ours are not theirs)."""
        me, found = str(os.getpid()), {}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                state, parent, pgrp = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            except OSError:
                continue
            if parent == me and int(pgrp) == group:
                found[int(proc.name)] = state
        return found

    @staticmethod
    def become_subreaper():
        """Killed `lab` processes (orphans of a killed make) become our children, and stay zombies until reaped."""
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    @staticmethod
    def reap(zombies):
        for pid in zombies:
            os.waitpid(pid, 0)

    def run(self, say=print):
        self.become_subreaper()
        import docker
        self.client = docker.from_env()  # netns too: Docker networks of others come and go meanwhile
        stop = []
        if self.backend == "docker":
            threading.Thread(target=self.follow_events, args=(stop,), daemon=True).start()
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"killsweep-live-{os.getpid()}"
        lab("clean")  # what earlier sessions left is not this sweep's to count
        before = machine_network(self.live_words)
        live = subprocess.Popen([sys.executable, "-m", "lab", "--backend", self.backend, "run", LIVE_SCENARIO,
                                 "--repeat", "1000", "--out", str(out)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=interrupted_with_parent)
        rng = random.Random(f"{self.seed}-{self.backend}")
        rows = []
        try:
            whole = self.durations(out / "timing")
            for point in range(self.kills):
                name = SCENARIOS[point % len(SCENARIOS)]
                delay = rng.uniform(0.05, 0.95) * whole[name]  # a seeded share of what the run takes here
                killed_at, zombies = self.kill_one(name, delay, out / "killed")
                dead_runs = {r.run_id for r in lease.leases(self.backend).values() if r.dead}
                t = time.monotonic()
                done = lab("clean")
                clean_s = time.monotonic() - t
                at_once = self.leftovers()
                self.reap(zombies)
                time.sleep(10)
                later = self.leftovers()
                late = [c for c in self.creates if c[0] > killed_at and any(r in c[2] for r in dead_runs)]
                delay_s = max((c[0] - killed_at for c in late), default=None)
                rows.append(dict(point=point, name=name, delay=delay, zombies=len(zombies), clean_rc=done.returncode,
                                 clean_s=clean_s, at_once=at_once, later=later,
                                 late_creates=len(late), last_late_create_s=delay_s))
                say(f"kill {point + 1:>2}/{self.kills} {name:<17} at {delay:4.2f} s: {len(zombies)} zombies, "
                    f"clean {clean_s:4.2f} s, left {len(at_once)} at once and {len(later)} 10 s later, "
                    f"late creates {len(late)}" + (f" (last {delay_s:.2f} s after the kill)" if late else "")
                    + "".join(f"\n    left: {item}" for item in at_once + later))
        finally:
            live.send_signal(signal.SIGINT)
            live_rc = live.wait(120)
            records = [json.loads(p.read_text()) for p in out.glob("*/result.json")]
            shutil.rmtree(out, ignore_errors=True)
            if live_rc != 130:
                say(f"the live run ended with {live_rc}: {live.stderr.read()[-500:]}")
            for close in stop:
                close()
        # with the live run gone too: a line counts as changed when two readings show it (another
        # program's veth pair is briefly in the machine's namespace while the engine sets it up)
        changed = sorted((set(machine_network(self.live_words)) ^ set(before))
                         & (set(machine_network(self.live_words)) ^ set(before)))
        for line in changed:
            say(f"machine network changed: {line}")
        finished = [r for r in records if r.get("complete")]
        summary = dict(
            kills=len(rows), zombies=sum(r["zombies"] for r in rows),
            left_at_once=sum(len(r["at_once"]) for r in rows), left_later=sum(len(r["later"]) for r in rows),
            network_changed=len(changed),
            clean_failed=sum(r["clean_rc"] != 0 for r in rows),
            longest_late_create_s=max((r["last_late_create_s"] or 0 for r in rows), default=0),
            live_rc=live_rc, live_runs=len(finished),
            live_failed=sum(r["verdict"]["status"] != "passed" for r in finished),
        )
        say(f"{self.backend}: {summary['kills']} kills ({summary['zombies']} zombies at clean time), "
            f"{summary['left_at_once']} objects left at once, {summary['left_later']} 10 s later, "
            f"{summary['network_changed']} lines of the machine's network changed, longest late create "
            f"{summary['longest_late_create_s']:.2f} s after its kill; the live run passed "
            f"{summary['live_runs'] - summary['live_failed']}/{summary['live_runs']} runs (exit {live_rc})")
        return rows, summary


def interrupted_with_parent():
    """In the live run's child: a SIGINT (its teardown) when the sweep dies without its `finally` (a pytest
    killed by SIGTERM or SIGKILL), or it would go on for its 1000 runs in its own session."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


def interrupt(signum, frame):
    raise KeyboardInterrupt  # a SIGTERM stops the live run and reaps, as Ctrl-C does


def main():
    signal.signal(signal.SIGTERM, interrupt)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="docker", choices=("docker", "netns"))
    p.add_argument("--kills", type=int, default=60)
    args = p.parse_args()
    Sweep(args.backend, args.kills).run()


if __name__ == "__main__":
    main()
