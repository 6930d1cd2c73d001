"""A parallel session (pytest-xdist) writes the catalogue's index page and per-step JUnit too:
each worker hands its run directories to the controller."""

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
