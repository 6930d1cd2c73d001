"""The loader turns every catalogue scenario into the model it gave when the snapshot was taken.

A guard for changes to the loader (and to the step and fault declarations it is
built from): tests/data/models.json holds, per scenario file, a digest of its text
and the model it loaded to. A scenario edited since is skipped, by name; after
editing one, refresh the snapshot with

    .venv/bin/python tests/test_models_unchanged.py
"""

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "data" / "models.json"
FILES = sorted((ROOT / "scenarios").glob("*.yaml"))


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_of(path):
    """The loaded Scenario as JSON data, with the path made relative to the repository."""
    from lab.scenario.load import load
    data = dataclasses.asdict(load(path))
    data["path"] = str(Path(data["path"]).relative_to(ROOT))
    return json.loads(json.dumps(data))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_scenario_loads_to_the_model_recorded_for_its_text(path):
    recorded = json.loads(SNAPSHOT.read_text()).get(path.name)
    if recorded is None or recorded["sha256"] != digest(path):
        pytest.skip(f"{path.name} changed since the snapshot; refresh it: python {Path(__file__).relative_to(ROOT)}")
    assert model_of(path) == recorded["model"]


def test_the_snapshot_covers_the_catalogue():
    assert set(json.loads(SNAPSHOT.read_text())) == {p.name for p in FILES}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    SNAPSHOT.write_text(json.dumps({p.name: {"sha256": digest(p), "model": model_of(p)} for p in FILES},
                                   indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}: {len(FILES)} scenarios")
