"""lab compare: records from several kernels become one matrix; differences and failures are counted."""

import json
import subprocess
import sys
from pathlib import Path

from lab.record import RunRecord
from lab.reports import compare

ROOT = Path(__file__).resolve().parent.parent


def record(kernel, observed, passed, machine="m1"):
    """The parts of a result.json that compare reads."""
    return {"complete": True, "scenario": {"name": "crash-reset"},
            "environment": {"kernel": kernel, "backend": "docker", "machine": machine},
            "verdict": {"steps": [{"number": 17, "host": "server", "action": "recv sock=a", "expected": ["EOF"],
                                   "observed": observed, "passed": passed}],
                        "rules": [{"text": "RST client→server", "wanted": "≥1", "count": 1, "passed": True}],
                        "evidence": []}}


def test_a_kernel_that_answers_otherwise_is_one_differing_row_and_one_disagreement(tmp_path):
    for i, r in enumerate([record("6.1.0", "EOF", True), record("6.18.0", "EOF", True),
                           record("5.10.0", "ECONNRESET", False)]):
        (tmp_path / f"r{i}").mkdir()
        (tmp_path / f"r{i}" / "result.json").write_text(json.dumps(r))
    matrix = compare.build(compare.find_records([tmp_path]))
    assert matrix.columns == ["5.10.0", "6.1.0", "6.18.0"]
    step = ("crash-reset", "step 17 server recv sock=a")
    assert matrix.differs(step) and not matrix.differs(("crash-reset", "packets RST client→server"))
    assert matrix.disagreements == 1
    data = json.loads(compare.as_json(matrix))
    assert data["disagreements"] == 1 and data["rows"][0]["cells"]["5.10.0"]["outcomes"] == ["ECONNRESET"]
    assert '<tr class="differs unexplained"' in compare.as_html(matrix)
    done = subprocess.run([sys.executable, "-m", "lab", "compare", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 1 and "ECONNRESET" in done.stdout


def test_columns_go_by_kernel_version_not_by_text():
    kernels = ("10.1.0", "6.18.44", "6.2.0", "5.10.0")
    matrix = compare.build([RunRecord.from_dict(record(k, "EOF", True)) for k in kernels])
    assert matrix.columns == ["5.10.0", "6.2.0", "6.18.44", "10.1.0"]


def test_one_kernel_on_two_machines_gets_a_column_each():
    matrix = compare.build([RunRecord.from_dict(record("6.1.0", "EOF", True, m)) for m in ("a", "b")])
    assert matrix.columns == ["6.1.0 @ a", "6.1.0 @ b"] and matrix.disagreements == 0


def test_no_result_files_is_bad_input(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lab", "compare", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "no complete result.json" in done.stderr


def with_rule(r, wanted, count, passed=True):
    r["verdict"]["rules"] = [{"text": "SYN retransmitted client→server", "wanted": wanted, "count": count,
                              "passed": passed}]
    return RunRecord.from_dict(r)


def test_an_open_count_that_varies_is_no_difference_but_an_exact_one_is():
    rule = ("crash-reset", "packets SYN retransmitted client→server")
    lossy = compare.build([with_rule(record("6.1.0", "EOF", True), "≥1", 36),
                           with_rule(record("7.2.0", "EOF", True), "≥1", 53)])
    assert not lossy.differs(rule) and lossy.disagreements == 0
    keyed = compare.build([with_rule(record("5.10.0", "EOF", True), "1", 1),
                           with_rule(record("7.2.0", "EOF", True), "2", 2)])
    assert keyed.differs(rule) and keyed.disagreements == 0
    assert keyed.expected(rule) == "1 / 2"


def in_runtime(r, runtime, version):
    r["cell"] = {"scenario": "crash-reset", "runtime": runtime, "family": "4", "kernel": r["environment"]["kernel"]}
    r["runtimes"] = {"server": {"runtime": runtime, "version": version}}
    return r


def test_runs_of_two_runtimes_get_a_column_each_with_their_versions():
    matrix = compare.build([RunRecord.from_dict(in_runtime(record("6.1.0", "EOF", True), "c", "glibc 2.36")),
                            RunRecord.from_dict(in_runtime(record("6.1.0", "-1", False), "java-nio", "OpenJDK 17"))])
    assert matrix.columns == ["6.1.0 c", "6.1.0 java-nio"] and matrix.disagreements == 1
    assert matrix.runtimes == {"6.1.0 c": ["c glibc 2.36"], "6.1.0 java-nio": ["java-nio OpenJDK 17"]}
    assert "java-nio OpenJDK 17" in compare.as_html(matrix)


def with_family(r, family, observed, why):
    r["cell"] = {"scenario": "crash-reset", "runtime": "python", "family": family, "kernel": "6.18.0"}
    r["verdict"]["steps"][0].update(observed=observed, expected=[observed], why=why)
    return RunRecord.from_dict(r)


def test_families_that_differ_are_a_column_each_with_the_reason_each_gives():
    step = ("crash-reset", "step 17 server recv sock=a")
    matrix = compare.build([with_family(record("6.18.0", "4344", True), "4", "4344", "three segments of 1448"),
                            with_family(record("6.18.0", "4284", True), "6", "4284", "three segments of 1428")])
    assert matrix.columns == ["6.18.0 ipv4", "6.18.0 ipv6"]
    assert matrix.reasons(step) == {"three segments of 1448": ["6.18.0 ipv4"], "three segments of 1428": ["6.18.0 ipv6"]}
    assert json.loads(compare.as_json(matrix))["rows"][0]["reasons"]["three segments of 1428"] == ["6.18.0 ipv6"]
    assert "three segments of 1428" in compare.as_html(matrix)


def test_a_difference_no_expectation_gives_a_reason_for_is_unexplained():
    step = ("crash-reset", "step 17 server recv sock=a")
    matrix = compare.build([with_family(record("6.18.0", "4344", True), "4", "4344", "same"),
                            with_family(record("6.18.0", "4284", False), "6", "4284", "same")])
    assert list(matrix.reasons(step)) == [compare.UNEXPLAINED]
    assert not matrix.reasons(("crash-reset", "packets RST client→server"))
