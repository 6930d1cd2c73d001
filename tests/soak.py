"""Soak benchmark: the whole catalogue N times back to back (or: make soak N=10).

Each round runs every scenario once through `lab run` (one process, as
`make scenarios` would), then prints the round's time, how many outcomes
(per step and per packet rule) changed against round 1, and what the round
left on the engine. The last line sums them up. It prints figures; it
asserts nothing.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def leftovers():
    count = 0
    for what in (["ps", "-aq"], ["network", "ls", "-q"]):
        out = subprocess.run(["docker", *what, "--filter", "label=tcp-fault-lab.run"], capture_output=True, text=True)
        count += len(out.stdout.split())
    return count


def outcomes(out):
    """{scenario: (status, step outcomes, rule counts)} of one round."""
    found = {}
    for path in Path(out).glob("*/result.json"):
        r = json.loads(path.read_text())
        v = r.get("verdict", {})
        found[r["scenario"]["name"]] = (v.get("status", "incomplete"),
                                        tuple(str(s["observed"]) for s in v.get("steps", [])),
                                        tuple(rule["passed"] for rule in v.get("rules", [])))
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    args = p.parse_args()
    names = subprocess.run([sys.executable, "-m", "lab", "catalogue"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    names = [line.split("`")[1] for line in names.splitlines()[2:]]
    first, changes, left, times = None, 0, 0, []
    for round_no in range(1, args.n + 1):
        with tempfile.TemporaryDirectory() as out:
            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "lab", "run", *names, "--out", out], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.monotonic() - t)
            this = outcomes(out)
        first = first or this
        changed = sum(this.get(name) != first.get(name) for name in names)
        round_left = leftovers()
        changes, left = changes + changed, left + round_left
        statuses = [s for s, _, _ in this.values()]
        print(f"round {round_no:>3}: {times[-1]:6.1f} s  {statuses.count('passed')} passed, "
              f"{statuses.count('skipped')} skipped, {statuses.count('failed')} failed; "
              f"{changed} scenarios changed; {round_left} objects left", flush=True)
    print(f"{args.n} rounds of {len(names)} scenarios: {changes} verdict changes, {left} leftovers, "
          f"{min(times):.1f}-{max(times):.1f} s per round")


if __name__ == "__main__":
    main()
