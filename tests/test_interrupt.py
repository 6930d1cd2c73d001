"""Interrupted runs leave nothing behind, killed the way users and CI kill them: a
signal to the whole process group of `make scenario`, at seeded random points of
every phase (make and the image check, setup, steps, capture, teardown), on both
backends. SIGINT and SIGTERM go through the run's own teardown; SIGKILL leaves a
zombie `lab` and is cleaned by one `lab clean`, with a run of another owner going
on meanwhile that no clean may touch (tests/killsweep.py; `make killsweep` runs
the long sweep and prints its figures)."""

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from killsweep import ROOT, SCENARIOS, Sweep

pytestmark = pytest.mark.docker
POINTS = 6         # per signal and backend
KILLS = 4          # SIGKILLs per backend here; the nightly sweep does 60
BACKENDS = ["docker", "netns"]


@pytest.fixture(scope="module", autouse=True)
def set_up():
    """What `make scenario` would install first (a changed lock file reinstalls): not the phase under test."""
    subprocess.run(["make", "-s", "setup", "tools"], cwd=ROOT, check=True, capture_output=True)


def interrupted_make(backend, name, sig, delay, out):
    """make scenario in its own process group, sig to the group after delay; (exit status, records)."""
    make = subprocess.Popen(["make", "-s", "scenario", f"NAME={name}", f"BACKEND={backend}", f"OUT={out}"],
                            cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    os.killpg(make.pid, sig)
    _, err = make.communicate(timeout=60)
    assert "Traceback" not in err, err
    return make.returncode, [json.loads(p.read_text()) for p in Path(out).glob("*/result.json")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signalled_run_tears_itself_down(backend, sig, tmp_path, request):
    request.getfixturevalue("backend" if backend == "docker" else "netns_backend")
    sweep = Sweep(backend, 0)
    if backend == "docker":
        import docker
        sweep.client = docker.from_env()
    rng = random.Random(f"interrupt-{backend}-{sig.name}")  # seeded: the same points every time
    whole = sweep.durations(tmp_path / "timing")
    for point in range(POINTS):
        name = SCENARIOS[point % len(SCENARIOS)]
        delay = rng.uniform(0.05, 0.95) * whole[name]  # a seeded share of what the run takes here
        rc, records = interrupted_make(backend, name, sig, delay, tmp_path / str(point))
        for record in records:  # a run directory is a whole record, or says it is not one
            assert record["complete"] is ("verdict" in record), (delay, record)
        assert sweep.leftovers() == [], f"{name} {sig.name} at {delay:.2f} s"
        assert rc in (0, 2, 130, -sig, 128 + sig), (name, delay, rc)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkilled_runs_are_cleaned_at_once_and_spare_a_live_run(backend, request):
    request.getfixturevalue("backend" if backend == "docker" else "netns_backend")
    rows, summary = Sweep(backend, KILLS, seed="ci").run()
    assert len(rows) == KILLS
    for row in rows:
        assert row["clean_rc"] == 0 and row["at_once"] == [] and row["later"] == [], row
    assert summary["network_changed"] == 0, "the machine's links, addresses, routes or firewall changed"
    assert summary["zombies"] > 0, "the killed lab was never a zombie at clean time: the case is not exercised"
    assert summary["live_runs"] > 0 and summary["live_failed"] == 0, summary
    assert summary["live_rc"] == 130, summary
