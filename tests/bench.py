"""Benchmark: warm runs of a scenario, timed phase by phase, and what the HTML report adds.

    python tests/bench.py crash-reset --repeat 20     (or: make bench NAME=crash-reset)
    python tests/bench.py crash-reset --backend netns (or: make bench BACKEND=netns)

Each run is a fresh `lab run` process, as a user would start it, so the wall
time includes Python's start-up. Prints the wall time and the setup, steps,
capture and teardown phases (median and worst), how many runs passed, and
whether anything of the lab's is left on the engine or in network
namespaces afterwards; then the
time `lab report` takes per run, as a share of the run's own time. A
benchmark prints figures; it asserts nothing (the targets are read off its output).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.reports import ladder

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("setup", "steps", "capture", "teardown")


def leftovers():
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=tcp-fault-lab.run"],
                         capture_output=True, text=True).stdout.split()
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", "label=tcp-fault-lab.run"],
                          capture_output=True, text=True).stdout.split()
    namespaces = list(Path("/run/netns").glob("tfl-*"))
    return len(out), len(nets), len(namespaces)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--backend", default="docker")
    args = p.parse_args()
    lab = [sys.executable, "-m", "lab", "--backend", args.backend]
    subprocess.run([*lab, "images"], cwd=ROOT, check=True, capture_output=True)
    print(f"backend: {args.backend}")
    print(f"{'scenario':<18} {'runs':>4} {'passed':>6}  {'wall':>11}  " +
          "  ".join(f"{ph:>11}" for ph in PHASES) + "   (median/worst, seconds)")
    for name in args.names:
        walls, phases, verdicts, reports = [], {ph: [] for ph in PHASES}, [], []
        with tempfile.TemporaryDirectory() as out:
            for _ in range(args.repeat):
                t = time.monotonic()
                done = subprocess.run([*lab, "run", name, "--out", out],
                                      cwd=ROOT, capture_output=True, text=True)
                walls.append(time.monotonic() - t)
                if done.returncode == 2:
                    sys.exit(done.stderr.strip())
                verdicts.append(done.returncode)
            for result in Path(out).glob("*/result.json"):
                timings = json.loads(result.read_text())["timings"]
                for ph in PHASES:
                    phases[ph].append(timings[ph])
                t = time.monotonic()
                ladder.write_report(result.parent)
                reports.append(time.monotonic() - t)

        def fmt(xs):
            return f"{statistics.median(xs):5.2f}/{max(xs):5.2f}"

        print(f"{name:<18} {len(walls):>4} {verdicts.count(0):>6}  {fmt(walls):>11}  " +
              "  ".join(f"{fmt(phases[ph]):>11}" for ph in PHASES) +
              f"   report {statistics.median(reports) * 1000:.0f} ms "
              f"({statistics.median(reports) / statistics.median(walls):.1%} of a run)")
    containers, networks, namespaces = leftovers()
    print(f"left afterwards: {containers} containers, {networks} networks, {namespaces} network namespaces")


if __name__ == "__main__":
    main()
