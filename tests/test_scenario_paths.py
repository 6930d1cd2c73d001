"""A team's own scenario file, outside scenarios/, is taken wherever a catalogue name is:
`lab run`, `lab show` and pytest. None of these tests needs Docker: they stop before a run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.scenario.load import SCENARIOS, find, load

ROOT = Path(__file__).resolve().parents[1]
NO_ENGINE = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture
def own(tmp_path):
    """A copy of connect-refused named as its new file, in a folder that is not scenarios/."""
    path = tmp_path / "team" / "our-refusal.yaml"
    path.parent.mkdir()
    path.write_text((SCENARIOS / "connect-refused.yaml").read_text()
                    .replace("name: connect-refused", "name: our-refusal"))
    return path


def lab(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=cwd, capture_output=True, text=True, env=NO_ENGINE)


@pytest.mark.parametrize("given, expected", [
    ("crash-reset", SCENARIOS / "crash-reset.yaml"),
    ("./scenarios/crash-reset.yaml", Path("scenarios/crash-reset.yaml")),
    ("mine.yaml", Path("mine.yaml")),
    ("team/mine", Path("team/mine")),
])
def test_find_takes_a_name_or_a_path(given, expected):
    assert find(given) == expected


def test_a_file_outside_the_catalogue_loads_like_one_inside(own):
    assert load(find(str(own))).steps == load(find("connect-refused")).steps


def test_lab_show_takes_a_path(own):
    done = lab("show", str(own))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("our-refusal") and "On the wire:" in done.stdout


def test_lab_run_refuses_a_bad_file_by_path_before_any_engine(own):
    own.write_text(own.read_text().replace("port: 7001", "port: seven", 1))
    done = lab("run", str(own))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"lab: {own}:") and "'seven'" in done.stderr


def test_lab_run_names_a_missing_file():
    done = lab("run", "no/such/scenario.yaml")
    assert (done.returncode, done.stderr) == (2, "lab: no/such/scenario.yaml: cannot read: No such file or directory\n")


def test_pytest_collects_a_yaml_file_named_on_its_command_line(own):
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-W", "error::pytest.PytestUnknownMarkWarning", str(own)],
                          cwd=own.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "our-refusal.yaml::our-refusal[docker]" in done.stdout
