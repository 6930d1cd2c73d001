"""The nightly fan-out, run here: the workflow's own shard and merge commands (read from
.github/workflows/nightly.yml), made small (two quick scenarios, netns, the c runtime beside
python, no kernel VMs), as shards 1/2 and 2/2 and merged, give the compare page of one
unsharded run: the same rows, columns and cells, each cell one run with the same verdict.
Its cost: 29 s on 2 cores at load 1 (128-145 s at load 15-16; 26 s of CPU): 24 netns runs in six
pytest sessions."""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
SHARD = "SHARD=${{ matrix.shard }}/${{ strategy.job-total }}"
SMALL = ["SCENARIOS=scenarios/crash-reset.yaml scenarios/connect-refused.yaml", "KERNELS=", "NIGHTLY_RUNTIMES=c",
         "BACKEND=netns"]


def workflow_commands():
    """The shard job's `make nightly` and the merge job's `make nightly-merge`, and the workflow."""
    flow = yaml.safe_load(WORKFLOW.read_text())
    runs = {name: [s["run"] for s in job["steps"] if "run" in s] for name, job in flow["jobs"].items()}
    shard = next(r for r in runs["shard"] if "make nightly " in r)
    merge = next(r for r in runs["merge"] if "make nightly-merge" in r)
    return shard, merge, flow


def make(command, *overrides):
    """A workflow's make command as it runs here (as root: no sudo), its variables overridden."""
    argv = shlex.split(command.replace("sudo --preserve-env ", ""))
    done = subprocess.run([*argv, *overrides], cwd=ROOT, capture_output=True, text=True)
    return done


def cells(page):
    """{(scenario, item, column): (outcomes of a step, or how many runs; ok)} of a compare.json."""
    data = json.loads(page.read_text())
    return data["columns"], {
        (row["scenario"], row["item"], column): (cell["outcomes"] if row["item"].startswith("step")
                                                 else len(cell["outcomes"]), cell["ok"])
        for row in data["rows"] for column, cell in row["cells"].items()}


def test_the_workflow_is_a_job_per_shard_and_a_merge_of_their_artifacts():
    shard, merge, flow = workflow_commands()
    jobs = flow["jobs"]
    assert SHARD in shard
    assert len(jobs["shard"]["strategy"]["matrix"]["shard"]) >= 2 and jobs["merge"]["needs"] == "shard"
    assert all(job["timeout-minutes"] <= 60 for job in jobs.values())
    upload = next(s for s in jobs["shard"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in jobs["merge"]["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    makefile = (ROOT / "Makefile").read_text()
    assert upload["with"]["path"].rstrip("/") == re.search(r"^NIGHTLY \?= (\S+)", makefile, re.M).group(1)
    assert download["with"]["path"] == re.search(r"^SHARDS_IN \?= (\S+)", makefile, re.M).group(1)
    assert download["with"]["pattern"].rstrip("*") in upload["with"]["name"]


def test_two_shards_merged_are_one_run(netns_backend, tmp_path):
    shard, merge, _ = workflow_commands()
    for i in (1, 2):
        done = make(shard.replace(SHARD, f"SHARD={i}/2"), f"NIGHTLY={tmp_path}/shard-{i}", *SMALL)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    whole = make(shard.replace(SHARD, "SHARD="), f"NIGHTLY={tmp_path}/whole", *SMALL)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    runs = {part: len(list((tmp_path / part).rglob("result.json"))) for part in ("shard-1", "shard-2", "whole")}
    assert runs["shard-1"] and runs["shard-2"] and runs["shard-1"] + runs["shard-2"] == runs["whole"] == 8, runs
    # the artifacts as they may arrive: one shard a folder, the other an archive and the folder again
    subprocess.run(["tar", "-czf", tmp_path / "shard-2.tar.gz", "-C", tmp_path, "shard-2"], check=True)
    merged = make(merge, f"SHARDS_IN={tmp_path}/shard-1 {tmp_path}/shard-2.tar.gz {tmp_path}/shard-2",
                  f"NIGHTLY={tmp_path}/merged")
    alone = make(merge, f"SHARDS_IN={tmp_path}/whole", f"NIGHTLY={tmp_path}/alone")
    assert merged.returncode == alone.returncode == 0, merged.stdout[-3000:] + merged.stderr[-3000:]
    columns, merged_cells = cells(tmp_path / "merged" / "compare.json")
    assert (columns, merged_cells) == cells(tmp_path / "alone" / "compare.json")
    assert columns == [c for c in columns if " @ " not in c] and len(columns) == 4   # {python, c} x {ipv4, ipv6}
    assert (tmp_path / "merged" / "compare.html").stat().st_size > 0
