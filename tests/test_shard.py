"""Shards of the matrix (lab/shard.py) and their merge (lab/reports/sources.py): the shards of N
hold every cell once; `lab matrix --shard` boots only the kernels its cells name and tells each
guest its cells; `lab compare` reads folders and archives and counts each run once."""

import doctest
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from lab import matrix, shard
from lab.errors import ScenarioError
from lab.matrix import KernelRun
from lab.record import RunRecord
from lab.reports import compare, sources
from lab.shard import Shard

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", [shard, matrix, sources])
def test_docstring_examples(module):
    failed, attempted = doctest.testmod(module)
    assert failed == 0 and (attempted > 0 or module is sources)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_the_shards_of_n_hold_every_cell_once(count):
    cells = [(f"s{i % 11}", k, r, f) for i in range(11) for k in ("5.10", "6.1") for r in ("c", "go") for f in "46"]
    dealt = [Shard(i, count).take(reversed(cells)) for i in range(1, count + 1)]
    assert sorted(c for part in dealt for c in part) == sorted(cells)
    assert max(map(len, dealt)) - min(map(len, dealt)) <= 1
    assert dealt == [Shard(i, count).take(cells) for i in range(1, count + 1)]  # the order given changes nothing


def test_a_shard_that_is_not_i_of_n_is_bad_input():
    for text in ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"]:
        with pytest.raises(ValueError, match="I/N"):
            Shard.parse(text)
    done = subprocess.run([sys.executable, "-m", "lab", "matrix", "6.1", "--shard", "3/2"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--shard" in done.stderr


@pytest.fixture
def booted(tmp_path, monkeypatch):
    """lab matrix without qemu: which kernels were booted, with which cells and timeout."""
    calls = {}

    def run_kernel(request, names, out, say, runtime_names, agents, families, tell, cells, timeout, cancel):
        calls[request] = (cells, timeout)
        (out / request / "run").mkdir(parents=True)
        record = {"complete": True, "run_id": f"r-{request}", "scenario": {"name": "crash-reset"},
                  "environment": {"kernel": request, "machine": "vm"},
                  "verdict": {"steps": [], "rules": [], "evidence": []}}
        (out / request / "run" / "result.json").write_text(json.dumps(record))
        return KernelRun(request, request, "tcg", 1.0, 1.0, 0, {}, str(out / request))

    monkeypatch.setattr(matrix, "run_kernel", run_kernel)
    monkeypatch.setattr(matrix, "guest_agents", lambda *args: [])
    return calls, tmp_path


def test_matrix_shards_split_the_cells_and_boot_only_the_kernels_they_name(booted):
    calls, tmp = booted
    names, kernels, families = ["crash-reset", "drop-syn"], ["6.1", "5.10"], ("4", "6")
    seen = []
    for i in (1, 2, 3):
        calls.clear()
        done, _, _ = matrix.run(kernels, names, tmp / f"s{i}", runtime_names=["python", "c"], families=families,
                                shard=Shard(i, 3))
        assert [k.request for k in done] == list(calls)
        seen += [(s, k, r, f) for k, (cells, _) in calls.items() for s, r, f in cells]
        assert json.loads((tmp / f"s{i}" / "matrix.json").read_text())["shard"] == f"{i}/3"
    whole = [(s, k, r, f) for s in names for k in kernels for r in ("c", "python") for f in families]
    assert sorted(seen) == sorted(whole) and len(seen) == len(set(seen))
    calls.clear()
    matrix.run(kernels, ["crash-reset"], tmp / "one", shard=Shard(2, 2))  # two cells, one a shard: 6.1 alone
    assert calls == {"6.1": ((("crash-reset", "python", "4"),), matrix.VM_TIMEOUT)}


def test_an_unsharded_vm_of_two_runtimes_over_both_families_gets_four_times_the_timeout(booted):
    calls, tmp = booted
    matrix.run(["6.1"], ["crash-reset"], tmp / "out", runtime_names=["python", "c"], families=("4", "6"))
    assert calls == {"6.1": ((), 4 * matrix.VM_TIMEOUT)}


def test_a_shard_beyond_the_cells_is_bad_input(booted):
    with pytest.raises(ScenarioError, match="shard 3/3 holds no cell"):
        matrix.run(["6.1"], ["crash-reset"], booted[1] / "out", shard=Shard(3, 3))


def test_the_guest_runs_only_its_cells():
    argv = matrix.guest_command([], ["python", "c"], ["4", "6"],
                                cells=[("drop-syn", "c", "6"), ("crash-reset", "python", "4")])
    assert argv[-6:] == ["--lab-cell", "drop-syn:c:6", "--lab-cell", "crash-reset:python:4",
                         "scenarios/crash-reset.yaml", "scenarios/drop-syn.yaml"]
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *argv[argv.index("--lab-backend"):]], cwd=ROOT, capture_output=True, text=True)
    assert sorted(line for line in done.stdout.splitlines() if "::" in line) == [
        "scenarios/crash-reset.yaml::crash-reset[netns,python,ipv4]",
        "scenarios/drop-syn.yaml::drop-syn[netns,c,ipv6]"], done.stdout + done.stderr


def result(run_id, kernel="6.1.0", machine="m1", scenario="crash-reset", family="4"):
    return {"complete": True, "run_id": run_id, "scenario": {"name": scenario},
            "cell": {"scenario": scenario, "runtime": "python", "family": family, "kernel": kernel},
            "environment": {"kernel": kernel, "backend": "netns", "machine": machine},
            "verdict": {"steps": [{"number": 1, "host": "server", "action": "listen", "expected": ["ok"],
                                   "observed": "ok", "passed": True}], "rules": [], "evidence": []}}


def write_runs(folder, *records):
    for r in records:
        (folder / r["run_id"]).mkdir(parents=True)
        (folder / r["run_id"] / "result.json").write_text(json.dumps(r))
        (folder / r["run_id"] / "server.pcap").write_bytes(b"\0" * 64)
    return folder


def tar_of(folder, path):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return path


def zip_of(folder, path, inner=()):
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder.parent))
        for name, data in inner:
            z.writestr(name, data)
    return path


def test_folders_and_archives_merge_and_each_run_counts_once(tmp_path):
    one = write_runs(tmp_path / "shard-1", result("a"), result("b", family="6"))
    two = write_runs(tmp_path / "shard-2", result("c", scenario="drop-syn"))
    tgz = tar_of(two, tmp_path / "shard-2.tar.gz")
    nested = zip_of(one, tmp_path / "artifact.zip", inner=[("inner/shard-2.tar.gz", tgz.read_bytes())])
    records = compare.find_records([one, two, tgz, nested])  # each run given two or three times
    assert sorted(r.run_id for r in records) == ["a", "b", "c"]
    assert {r.run_id: r.directory for r in records}["a"] == one / "a"  # the first place it was found
    assert sorted(r.run_id for r in compare.find_records([nested])) == ["a", "b", "c"]
    done = subprocess.run([sys.executable, "-m", "lab", "compare", str(tgz), str(nested), "--json",
                           str(tmp_path / "c.json")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    cells = {(row["scenario"], c): len(cell["outcomes"]) for row in json.loads((tmp_path / "c.json").read_text())["rows"]
             for c, cell in row["cells"].items()}
    assert cells == {("crash-reset", "6.1.0 ipv4"): 1, ("crash-reset", "6.1.0 ipv6"): 1, ("drop-syn", "6.1.0 ipv4"): 1}


def test_two_runs_of_one_cell_are_two_runs(tmp_path):
    records = compare.find_records([write_runs(tmp_path, result("a"), result("b"))])
    assert len(records) == 2 and compare.build(records).rows[("crash-reset", "step 1 server listen")][
        "cells"]["6.1.0"].outcomes == ["ok", "ok"]


def test_a_broken_archive_is_bad_input_naming_it(tmp_path):
    (tmp_path / "shard.tar.gz").write_bytes(b"not a tar")
    done = subprocess.run([sys.executable, "-m", "lab", "compare", str(tmp_path / "shard.tar.gz")], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "shard.tar.gz: not a readable archive" in done.stderr


def test_shards_on_two_machines_share_a_column_unless_both_ran_a_cell():
    def records(*specs):
        return [RunRecord.from_dict(result(run_id, machine=m, scenario=s)) for run_id, m, s in specs]
    assert compare.build(records(("a", "m1", "crash-reset"), ("b", "m2", "drop-syn"))).columns == ["6.1.0"]
    both = compare.build(records(("a", "m1", "crash-reset"), ("b", "m2", "crash-reset")))
    assert both.columns == ["6.1.0 @ m1", "6.1.0 @ m2"]


def test_an_archive_read_in_place_unpacks_nothing(tmp_path):
    tgz = tar_of(write_runs(tmp_path / "s", result("a")), tmp_path / "s.tar.gz")
    before = sorted(tmp_path.rglob("*"))
    [(where, data)] = list(sources.result_files([tgz]))
    assert where == tgz / "s" / "a" / "result.json" and json.loads(data)["run_id"] == "a"
    assert sorted(tmp_path.rglob("*")) == before
