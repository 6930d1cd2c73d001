"""The CLI's promises without Docker: bad input and a missing engine give one line and exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def lab(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def one_line(stderr):
    return stderr.count("\n") == 1 and "Traceback" not in stderr


def test_unknown_scenario_names_the_known_ones():
    done = lab("run", "no-such-thing")
    assert done.returncode == 2 and one_line(done.stderr)
    assert "unknown scenario 'no-such-thing'" in done.stderr and "crash-reset" in done.stderr


def test_unreachable_engine():
    done = lab("run", "crash-reset", env=NO_ENGINE)
    assert done.returncode == 2 and one_line(done.stderr)
    assert "cannot reach the Docker engine at unix:///nonexistent/docker.sock" in done.stderr


def test_malformed_scenario_file_names_file_line_and_step(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "scenarios" / "connect-refused.yaml").read_text()
                   .replace("name: connect-refused", "name: bad").replace("port: 7001", "port: seven"))
    done = subprocess.run([sys.executable, "-c", f"""
import sys
from lab.cli import main
from lab.scenario import load
load.path_for = lambda name: {str(bad)!r}
sys.exit(main(['run', 'bad']))
"""], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **NO_ENGINE})
    assert done.returncode == 2 and one_line(done.stderr), done.stderr
    assert f"{bad}:" in done.stderr and "step 1" in done.stderr and "'seven'" in done.stderr


@pytest.mark.parametrize("name", ["crash-reset", "kill-unread-data", "connect-refused"])
def test_show_prints_story_steps_and_wire_rules(name):
    done = lab("show", name)
    assert done.returncode == 0, done.stderr
    assert "On the wire:" in done.stdout and "  1. " in done.stdout


def test_list_has_one_line_per_scenario():
    done = lab("list")
    names = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert [line.split()[0] for line in done.stdout.splitlines() if line.strip()] == names


def test_readme_catalogue_is_the_one_made_from_the_scenario_files():
    from lab import catalogue
    readme = (ROOT / "README.md").read_text()
    assert catalogue.readme_with_catalogue(readme) == readme, "run `make readme`"
