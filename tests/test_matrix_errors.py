"""A matrix goes on past a kernel that cannot run (fetch failed, VM timed out or brought nothing
back): the others are compared, the failed one is named, and the exit status says so."""

import _thread
import json
import threading

import pytest

from lab import matrix
from lab.errors import SetupError
from lab.matrix import KernelRun

RESULT = {"complete": True, "scenario": {"name": "crash-reset"},
          "environment": {"kernel": "6.1.0", "backend": "netns", "machine": "vm"},
          "verdict": {"steps": [{"number": 1, "host": "server", "action": "listen", "expected": ["ok"],
                                 "observed": "ok", "passed": True}], "rules": [], "evidence": []}}


@pytest.fixture
def kernels(tmp_path, monkeypatch):
    ran = tmp_path / "6.1.0"
    (ran / "run").mkdir(parents=True)
    (ran / "run" / "result.json").write_text(json.dumps(RESULT))

    def run_kernel(request, *args, **kwargs):
        if request == "5.10":
            raise SetupError("the VM of 5.10.262 brought nothing back (timed out)")
        return KernelRun(request, "6.1.0", "tcg", 7.0, 200.0, 0, {"passed": 1, "failed": 0, "skipped": 0}, str(ran))

    monkeypatch.setattr(matrix, "run_kernel", run_kernel)
    monkeypatch.setattr(matrix, "guest_agents", lambda *args: [])
    return tmp_path


def test_a_kernel_that_cannot_run_does_not_stop_the_others(kernels):
    done, table, _ = matrix.run(["5.10", "6.1"], out=kernels / "out")
    assert [(k.request, k.error) for k in done] == [("5.10", "the VM of 5.10.262 brought nothing back (timed out)"),
                                                   ("6.1", None)]
    assert table.columns == ["6.1.0"] and done[0].status is None  # lab matrix exits 1 for it
    assert json.loads((kernels / "out" / "matrix.json").read_text())["kernels"][0]["error"].startswith("the VM")


def test_no_kernel_that_could_run_is_an_error_naming_each(kernels):
    with pytest.raises(SetupError, match="no kernel could run: 5.10: the VM of 5.10.262"):
        matrix.run(["5.10"], out=kernels / "out")


def test_ctrl_c_stops_the_kernels_running_beside_it(kernels, monkeypatch):
    """With LAB_VM_JOBS=2 kernels run side by side in threads; Ctrl-C reaches only the main thread, which tells the others."""
    told = threading.Event()

    def run_kernel(request, *args, cancel, **kwargs):
        if request == "6.1":
            _thread.interrupt_main()  # Ctrl-C, as the main thread waits on the kernels
            return KernelRun(request, "6.1.0", "tcg", 7.0, 200.0, 0, {"passed": 0, "failed": 0, "skipped": 0}, None)
        if cancel.wait(10):
            told.set()
        raise SetupError("the VM of 5.10.262 brought nothing back (cancelled)")

    monkeypatch.setattr(matrix, "run_kernel", run_kernel)
    monkeypatch.setattr(matrix, "VM_JOBS", 2)
    with pytest.raises(KeyboardInterrupt):
        matrix.run(["5.10", "6.1"], out=kernels / "out")
    assert told.is_set()
