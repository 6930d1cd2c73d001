"""A parallel session (pytest-xdist) writes the catalogue's index page and per-step JUnit too:
each worker hands its run directories to the controller."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.pytest_plugin import require_engine

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.docker
def test_two_workers_runs_are_all_on_the_index_page_and_in_the_junit(tmp_path):
    require_engine("netns")
    names = ("crash-reset", "connect-refused", "half-close")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                           *(str(ROOT / "scenarios" / f"{n}.yaml") for n in names),
                           "--lab-backend", "netns", "--lab-out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert "3 passed" in done.stdout, done.stdout[-2000:]
    index, junit = (tmp_path / "index.html").read_text(), (tmp_path / "catalogue-junit.xml").read_text()
    for name in names:
        assert f'<testsuite name="{name}"' in junit and name in index


@pytest.mark.docker
def test_a_parallel_session_runs_the_longest_of_last_time_first_and_keeps_its_own_times(tmp_path):
    require_engine("netns")
    names = ("connect-refused", "crash-reset", "half-close")
    last = {f"scenarios/{n}.yaml::{n}[netns]": t for n, t in zip(names, (1.0, 3.0, 2.0))}
    cache = tmp_path / "cache"
    (cache / "v" / "lab").mkdir(parents=True)
    (cache / "v" / "lab" / "durations").write_text(json.dumps(last))
    # one worker takes the items in the order the session put them in
    done = subprocess.run([sys.executable, "-m", "pytest", "-v", "-n", "1", "-o", f"cache_dir={cache}",
                           *(f"scenarios/{n}.yaml" for n in names), "--lab-backend", "netns",
                           "--lab-out", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True)
    ran = [line.split("::")[1].split("[")[0] for line in done.stdout.splitlines() if "PASSED" in line]
    assert ran == ["crash-reset", "half-close", "connect-refused"], done.stdout[-2000:]
    now = json.loads((cache / "v" / "lab" / "durations").read_text())
    assert set(now) == set(last) and all(0 < t < 60 for t in now.values()) and now != last
