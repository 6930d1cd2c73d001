"""Benchmark: the compare page at scale (issue 16, goal 6), each figure beside its goal.

    python tests/bench_compare.py                 (or: make bench-compare)
    python tests/bench_compare.py --rows 20000 --rounds 5

A synthetic matrix (tests/synthetic_compare.py: 10,000 rows by default, 48 columns: 4 kernels
× 6 runtimes × 2 families; one row in ten differs) is written as the compare page
(lab/reports/compare_page.py) and opened in headless Chromium:

- build: compare_page.as_html(matrix), median of the rounds; goal <= 1 s;
- render: Chromium taking a screenshot of the page (parse, style, layout, the filters' first
  pass, paint) less the same for a one-line page (Chromium's own start), interleaved, the
  difference of the medians; goal <= 2 s;
- a filter: the script's own time to apply one (kernel and runtime from the address), as the
  page records it in data-filter-ms; goal <= 0.2 s.

Each is printed as wall time and as CPU time (this process's, or Chromium's processes'
through their rusage): on a shared machine the wall time mostly measures the others' load,
which the line about the machine says. A benchmark prints figures; it asserts nothing.
"""

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_compare import matrix  # noqa: E402  (tests/ is not a package)

from lab.reports import compare_page  # noqa: E402

GOALS = {"build": 1.0, "render": 2.0, "filter": 0.2}   # seconds


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        sys.exit("chromium is not installed (make browser installs it from Debian's packages)")
    return path


def timed_browser(browser, uri, *args):
    """(wall, CPU seconds of Chromium's processes, its stdout) of one headless Chromium."""
    before, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    done = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", *args, uri],
                          capture_output=True, text=True, timeout=600)
    wall, after = time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"chromium failed: {done.stderr[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def verdict(name, seconds):
    return f"goal <= {GOALS[name]:g} s: {'met' if seconds <= GOALS[name] else 'NOT met'}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    browser, med = chromium(), statistics.median
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min), {platform.platform()}")
    m = matrix(args.rows)
    walls, cpus = [], []
    for _ in range(args.rounds):
        t, c = time.monotonic(), time.process_time()
        page = compare_page.as_html(m)
        walls.append(time.monotonic() - t)
        cpus.append(time.process_time() - c)
    print(f"matrix: {len(m.rows)} rows × {len(m.columns)} columns, page {len(page.encode()) / 1e6:.1f} MB")
    print(f"build:  median {med(walls):.2f} s wall, {med(cpus):.2f} s CPU, {args.rounds} rounds "
          f"({verdict('build', med(cpus))} in CPU, {verdict('build', med(walls))} in wall time)")
    with tempfile.TemporaryDirectory() as tmp:
        html, blank, shot = Path(tmp) / "compare.html", Path(tmp) / "blank.html", Path(tmp) / "shot.png"
        html.write_text(page)
        blank.write_text("<!doctype html><title>blank</title><p>blank</p>\n")
        timed_browser(browser, blank.as_uri(), "--dump-dom")   # warm-up, not counted
        runs = {"page": [], "blank": []}
        for _ in range(args.rounds):
            for name, path in (("page", html), ("blank", blank)):
                runs[name].append(timed_browser(browser, path.as_uri(), f"--screenshot={shot}",
                                                "--window-size=1400,1100")[:2])
        wall = med(w for w, _ in runs["page"]) - med(w for w, _ in runs["blank"])
        cpu = med(c for _, c in runs["page"]) - med(c for _, c in runs["blank"])
        print(f"render: {wall:.2f} s wall, {cpu:.2f} s CPU over a one-line page's "
              f"({med(w for w, _ in runs['blank']):.2f} s wall), {args.rounds} interleaved rounds "
              f"({verdict('render', cpu)} in CPU, {verdict('render', wall)} in wall time)")
        filtered = timed_browser(browser, html.as_uri() + "#kernel=6.1.0&runtime=c", "--dump-dom")[2]
        ms = re.search(r'data-filter-ms="([\d.]+)"', filtered)
        if ms:
            print(f"filter: {float(ms.group(1)) / 1000:.3f} s wall in the page ({verdict('filter', float(ms.group(1)) / 1000)})")
        else:
            print("filter: the page recorded no time (its script did not run)")


if __name__ == "__main__":
    main()
