"""Soak benchmark: the whole catalogue N times back to back (or: make soak N=10 [KILL=0.3]).

Each round runs every scenario once, each as its own `lab run` (as `make
scenario` would). With --kill P, each run is instead, with probability P,
started through `make scenario` and SIGKILLed with its process group at a
random point, then one `lab clean` runs at once (tests/killsweep.py). Each
round prints its time, how many of the runs not killed changed outcome
(per step and per packet rule) against the first uninterrupted run of the
same scenario, and what dead runs left (containers, networks, namespaces,
programs, leases). The last line sums them up. It prints figures; it
asserts nothing.
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from killsweep import ROOT, Sweep, lab


def outcome(out):
    """(status, step outcomes, rule results) of the one run in out, or None if it wrote none."""
    for path in Path(out).glob("*/result.json"):
        v = json.loads(path.read_text()).get("verdict", {})
        return (v.get("status", "incomplete"), tuple(str(s["observed"]) for s in v.get("steps", [])),
                tuple(rule["passed"] for rule in v.get("rules", [])))
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    p.add_argument("--kill", type=float, default=0.0, help="share of runs to SIGKILL (default 0)")
    p.add_argument("--backend", default="docker", choices=("docker", "netns"))
    args = p.parse_args()
    names = [line.split("`")[1] for line in lab("catalogue", check=True).stdout.splitlines()[2:]]
    sweep = Sweep(args.backend, 0)
    if args.backend == "docker":
        import docker
        sweep.client = docker.from_env()
    if args.kill:
        sweep.become_subreaper()
    rng = random.Random("soak")
    first, changes, left, killed_total, times = {}, 0, 0, 0, []
    for round_no in range(1, args.n + 1):
        t, changed, killed, statuses = time.monotonic(), [], 0, []
        for name in names:
            with tempfile.TemporaryDirectory() as out:
                if rng.random() < args.kill:
                    _, zombies = sweep.kill_one(name, rng.uniform(0.3, 4.5), out)
                    lab("clean")
                    sweep.reap(zombies)
                    killed += 1
                    continue
                subprocess.run([sys.executable, "-m", "lab", "--backend", args.backend, "run", name, "--out", out],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                this = outcome(out)
            statuses.append(this[0] if this else "incomplete")
            first.setdefault(name, this)
            if this != first[name]:
                changed.append(name)
        times.append(time.monotonic() - t)
        round_left = len(sweep.leftovers())
        changes, left, killed_total = changes + len(changed), left + round_left, killed_total + killed
        print(f"round {round_no:>3}: {times[-1]:6.1f} s  {statuses.count('passed')} passed, "
              f"{statuses.count('skipped')} skipped, {statuses.count('failed')} failed, {killed} killed; "
              f"{len(changed)} verdict changes{' (' + ', '.join(changed) + ')' if changed else ''}; "
              f"{round_left} objects left", flush=True)
    print(f"{args.n} rounds of {len(names)} scenarios on {args.backend}, {killed_total} runs killed: "
          f"{changes} verdict changes, {left} leftovers, {min(times):.1f}-{max(times):.1f} s per round")


if __name__ == "__main__":
    main()
