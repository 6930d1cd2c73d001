"""The CLI's promises on a machine with no lab: bad input and a missing engine give one line
and exit 2; show, catalogue and list answer all the same.

Every command here runs with the Docker engine out of reach and the netns backend's tools
off the PATH, so no test can lean on either, whatever this machine has. The commands run in
this process (lab.cli.main, as the `lab` script does), a second each faster than a new
interpreter; one test runs `python -m lab` itself, for the exit status the shell sees."""

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.cli import main

ROOT = Path(__file__).resolve().parent.parent
NOWHERE = "unix:///nonexistent/docker.sock"
NO_LAB = {"DOCKER_HOST": NOWHERE, "PATH": "/nonexistent"}


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def lab(monkeypatch, capsys):
    """`lab ARGS` with no engine and no netns tools: its exit status, stdout and stderr."""
    for name, value in NO_LAB.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    sigterm = signal.getsignal(signal.SIGTERM)  # main() turns SIGTERM into Ctrl-C

    def run(*args):
        try:
            status = main(list(args))
        except SystemExit as exc:  # argparse's bad input
            status = exc.code
        out = capsys.readouterr()
        return Done(status, out.out, out.err)
    yield run
    signal.signal(signal.SIGTERM, sigterm)


def one_line(stderr):
    return stderr.count("\n") == 1 and "Traceback" not in stderr


def test_python_m_lab_exits_2_on_an_unknown_scenario_naming_the_known_ones():
    done = subprocess.run([sys.executable, "-m", "lab", "run", "no-such-thing"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **NO_LAB})
    assert done.returncode == 2 and one_line(done.stderr)
    assert "unknown scenario 'no-such-thing'" in done.stderr and "crash-reset" in done.stderr


def test_unreachable_engine(lab):
    done = lab("run", "crash-reset")
    assert done.returncode == 2 and one_line(done.stderr)
    assert f"cannot reach the Docker engine at {NOWHERE}" in done.stderr


def test_netns_without_its_tools(lab):
    done = lab("--backend", "netns", "run", "crash-reset")
    assert done.returncode == 2 and one_line(done.stderr)
    assert "the netns backend needs" in done.stderr


def test_bad_argument(lab):
    done = lab("run", "crash-reset", "--repeat", "0")
    assert done.returncode == 2 and one_line(done.stderr) and "--repeat takes a whole number" in done.stderr


def test_malformed_scenario_file_names_file_line_and_step(lab, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "scenarios" / "connect-refused.yaml").read_text()
                   .replace("name: connect-refused", "name: bad").replace("port: 7001", "port: seven"))
    done = lab("run", str(bad))
    assert done.returncode == 2 and one_line(done.stderr), done.stderr
    assert f"{bad}:" in done.stderr and "step 1" in done.stderr and "'seven'" in done.stderr


@pytest.mark.parametrize("name", ["crash-reset", "kill-unread-data", "connect-refused"])
def test_show_prints_story_steps_and_wire_rules(lab, name):
    done = lab("show", name)
    assert done.returncode == 0, done.stderr
    assert "On the wire:" in done.stdout and "  1. " in done.stdout


@pytest.mark.parametrize("backend, why", [("docker", f"cannot reach the Docker engine at {NOWHERE}"),
                                          ("netns", "the netns backend needs")])
def test_list_has_one_line_per_scenario_and_names_what_it_could_not_probe(lab, backend, why):
    done = lab("--backend", backend, "list")
    assert done.returncode == 0 and one_line(done.stderr), done.stderr
    assert done.stderr.startswith("lab: kernel features not probed: ") and why in done.stderr
    names = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert [line.split()[0] for line in done.stdout.splitlines() if line.strip()] == names
    assert "netem: not probed" in done.stdout


def test_readme_catalogue_is_the_one_made_from_the_scenario_files():
    from lab import catalogue
    readme = (ROOT / "README.md").read_text()
    assert catalogue.readme_with_catalogue(readme) == readme, "run `make readme`"
