"""Benchmark: warm runs of a scenario, timed phase by phase, and what the HTML report adds.

    python tests/bench.py crash-reset --repeat 20     (or: make bench NAME=crash-reset)
    python tests/bench.py crash-reset --backend netns (or: make bench BACKEND=netns)
    python tests/bench.py crash-reset --runtimes python c go node java-nio java-socket --repeat 10
                                                      (or: make bench RUNTIMES="python c go ..." RUNS=10)
    python tests/bench.py --floor                     `lab run crash-reset` against the floor (make bench
                                                      does it on Docker): the ratio beside its goal, 1.2
    python tests/bench.py --catalogue                 the whole catalogue as `make scenarios` runs it (make
                                                      bench does it on Docker): its time beside its goal, 45 s
    python tests/bench.py --matrix 5.10 6.1 6.12 7.2  the four-kernel matrix, warm (make bench-matrix): its
                                                      time beside its goal, 5 minutes

Every figure is printed with the machine it was measured on (CPU, cores,
memory, kernel, Docker, KVM or TCG): figures from another machine compare
with nothing.

Each run is a fresh `lab run` process, as a user would start it, so the wall
time includes Python's start-up. Prints the wall time and the setup, steps,
capture and teardown phases (median and worst), how many runs passed, and
whether anything of the lab's is left on the engine or in network
namespaces afterwards; then the
time `lab report` takes per run, as a share of the run's own time. A
benchmark prints figures; it asserts nothing (the targets are read off its output).

With --runtimes, each scenario runs in each runtime (`lab run --runtime R`),
interleaved round by round (the order rotating) so a noisy machine weighs on
every runtime alike, after one warm-up run each (images, agents) that is not
counted. Per runtime: the median whole-run time and the median of each phase,
and beside them the added time against python: the difference of the medians,
and the median of each round's own difference.
"""

import argparse
import json
import os
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


def timed_run(lab, name, out, runtime=None):
    """(wall seconds, exit status) of one `lab run` process; exits on a bad input or set-up (status 2)."""
    t = time.monotonic()
    done = subprocess.run([*lab, "run", name, "--out", str(out), *(["--runtime", runtime] if runtime else [])],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t
    if done.returncode == 2:
        sys.exit(done.stderr.strip())
    return wall, done.returncode


FLOOR_GOAL = 1.2  # a `lab run crash-reset` at most this many times the floor (tests/floor.py)
CATALOGUE_GOAL = 45  # seconds for `make scenarios` (Docker, python, IPv4), warm
MATRIX_GOAL = 300  # seconds for `make matrix` over four kernels (python, IPv4), warm


def machine():
    """One line naming what the figures were measured on."""
    from lab import vm
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    engine = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                            text=True).stdout.strip() or "none"
    return (f"machine: {cpu}, {os.cpu_count()} cores, {memory:.1f} GiB, kernel {os.uname().release}, "
            f"Docker {engine}, qemu {'KVM' if vm.kvm_works() else 'TCG'}")


def goal(figure, limit, unit=" s"):
    """A figure beside its goal: `79.1 s (goal <= 45 s: NOT met)`."""
    return f"{figure:.{1 if unit else 2}f}{unit} (goal <= {limit}{unit}: {'met' if figure <= limit else 'NOT met'})"


def bench_catalogue():
    """`make scenarios` (pytest over the catalogue, as many runs at once as its JOBS says), timed as a whole."""
    t = time.monotonic()
    done = subprocess.run(["make", "--no-print-directory", "scenarios"], cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"catalogue (make scenarios): {goal(wall, CATALOGUE_GOAL)}; pytest: {summary.strip('= ')}")


def bench_matrix(kernel_requests):
    """`lab matrix` over the kernels (fetched beforehand, not timed), timed as a whole, its progress and
    tables shown as it prints them; then its own figures per kernel."""
    from lab import kernels
    for request in kernel_requests:
        kernels.fetch(request, lambda msg: None)
    with tempfile.TemporaryDirectory() as out:
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "lab", "matrix", *kernel_requests, "--out", out], cwd=ROOT,
                       stderr=subprocess.STDOUT)  # its progress, as it goes
        wall = time.monotonic() - t
        runs = json.loads((Path(out) / "matrix.json").read_text())["kernels"]
        rows = json.loads((Path(out) / "compare.json").read_text())["rows"]
    for row in rows:  # the failed cells' items, before their folder goes
        for column, cell in row["cells"].items():
            if cell["ok"] is False:  # None: skipped, which the verdicts count apart
                print(f"  not as expected: {row['scenario']} · {row['item']} · {column}: "
                      f"{' / '.join(map(str, cell['outcomes']))} (expected {row['expected'].get(column)})")
    for k in runs:
        print(f"  {k['release']}: boot {k['boot_seconds'] or 0:.1f} s, catalogue {k['catalogue_seconds'] or 0:.0f} s "
              f"under {k['accel'].upper()}, {k['verdicts']}" + (f", {k['error']}" if k["error"] else ""))
    print(f"matrix ({len(kernel_requests)} kernels): {goal(wall, MATRIX_GOAL)}")


def bench_floor(lab, repeat):
    """`lab run crash-reset` against the floor, both whole processes, interleaved; the ratio of medians."""
    floor, runs = [], []
    with tempfile.TemporaryDirectory() as out:
        for i in range(repeat + 1):  # the first round warms both up and is not counted
            t = time.monotonic()
            done = subprocess.run([sys.executable, str(ROOT / "tests" / "floor.py")], cwd=ROOT, capture_output=True,
                                  text=True)
            if done.returncode != 0:
                sys.exit(f"the floor failed: {done.stderr.strip()[-500:]}")
            wall = time.monotonic() - t
            lab_wall, status = timed_run(lab, "crash-reset", out)
            if i:
                floor.append(wall)
                runs.append(lab_wall)
    ratio = statistics.median(runs) / statistics.median(floor)
    print(f"floor (tests/floor.py): median {statistics.median(floor):.2f} s, {min(floor):.2f}-{max(floor):.2f}")
    print(f"lab run crash-reset:    median {statistics.median(runs):.2f} s, {min(runs):.2f}-{max(runs):.2f}")
    print(f"ratio {goal(ratio, FLOOR_GOAL, unit='')}, {repeat} interleaved rounds")


def bench_runtimes(lab, name, names, repeat):
    """Each runtime's median run and phases, interleaved; the added time against python."""
    baseline = "python" if "python" in names else names[0]
    walls, phases, passed = {r: [] for r in names}, {r: {ph: [] for ph in PHASES} for r in names}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in names:
            timed_run(lab, name, Path(tmp) / "warm-up", runtime)
        for i in range(repeat):
            for runtime in names[i % len(names):] + names[:i % len(names)]:
                wall, status = timed_run(lab, name, Path(tmp) / runtime, runtime)
                walls[runtime].append(wall)
                passed[runtime] = passed.get(runtime, 0) + (status == 0)
        for runtime in names:
            for result in (Path(tmp) / runtime).glob("*/result.json"):
                timings = json.loads(result.read_text())["timings"]
                for ph in PHASES:
                    phases[runtime][ph].append(timings[ph])
    med = statistics.median
    print(f"{name}: {repeat} runs per runtime, interleaved; medians in seconds; "
          f"+ is the added time against {baseline}")
    print(f"{'runtime':<12} {'passed':>6}  {'run':>6} {'+' + baseline:>9} {'+paired':>8}  " +
          "  ".join(f"{ph:>8}" for ph in PHASES))
    for runtime in names:
        paired = [w - b for w, b in zip(walls[runtime], walls[baseline])]
        print(f"{runtime:<12} {passed[runtime]:>6}  {med(walls[runtime]):6.2f} "
              f"{med(walls[runtime]) - med(walls[baseline]):+9.2f} {med(paired):+8.2f}  " +
              "  ".join(f"{med(phases[runtime][ph]):8.3f}" for ph in PHASES) +
              (f"   {repeat - passed[runtime]} failed: timed as they failed" if passed[runtime] < repeat else ""))


def bench_phases(lab, names, repeat):
    """Each scenario's wall time and phases (median/worst), and what its HTML report adds."""
    print(f"{'scenario':<18} {'runs':>4} {'passed':>6}  {'wall':>11}  " +
          "  ".join(f"{ph:>11}" for ph in PHASES) + "   (median/worst, seconds)")
    for name in names:
        walls, phases, verdicts, reports = [], {ph: [] for ph in PHASES}, [], []
        with tempfile.TemporaryDirectory() as out:
            for _ in range(repeat):
                wall, status = timed_run(lab, name, out)
                walls.append(wall)
                verdicts.append(status)
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=["crash-reset"])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--backend", default="docker")
    p.add_argument("--runtimes", nargs="+", metavar="R", help="time each scenario in each of these runtimes")
    p.add_argument("--floor", action="store_true", help="also time `lab run crash-reset` against the floor "
                                                        "(tests/floor.py: the same work straight on the Docker SDK)")
    p.add_argument("--catalogue", action="store_true", help="also time the whole catalogue (make scenarios)")
    p.add_argument("--matrix", nargs="+", metavar="KERNEL", help="only time the matrix over these kernels")
    args = p.parse_args()
    print(machine())
    if args.matrix:
        return bench_matrix(args.matrix)
    lab = [sys.executable, "-m", "lab", "--backend", args.backend]
    subprocess.run([*lab, "images"], cwd=ROOT, check=True, capture_output=True)
    print(f"backend: {args.backend}")
    if args.runtimes:
        for name in args.names:
            bench_runtimes(lab, name, list(dict.fromkeys(args.runtimes)), args.repeat)
    else:
        bench_phases(lab, args.names, args.repeat)
    if args.floor:
        bench_floor(lab, args.repeat)
    if args.catalogue:
        bench_catalogue()
    containers, networks, namespaces = leftovers()
    print(f"left afterwards: {containers} containers, {networks} networks, {namespaces} network namespaces")


if __name__ == "__main__":
    main()
