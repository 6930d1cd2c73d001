"""`lab matrix` on a kernel that is not this machine's: booted in qemu, it runs crash-reset
on the netns backend and brings the run back.

The first run fetches the kernel from Debian's mirror and builds the VM's
root file system (about a minute, cached in .cache/); later runs boot at once.
"""

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab import kernels
from lab.errors import SetupError
from lab.scenario.load import load, path_for
from named_steps import step

pytestmark = pytest.mark.vm
KERNEL = os.environ.get("LAB_TEST_KERNEL", "6.1")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def kernel():
    missing = [tool for tool in ("qemu-system-x86_64", "mmdebstrap", "depmod") if not shutil.which(tool)]
    try:
        if missing:
            raise SetupError(f"{', '.join(missing)} missing (make test installs them)")
        return kernels.fetch(KERNEL)
    except SetupError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: integration tests must run, not skip)", pytrace=False)
        pytest.skip(str(exc))


def test_lab_matrix_runs_crash_reset_on_a_debian_kernel_in_qemu(kernel, tmp_path):
    assert kernel.release != platform.release(), "pick a kernel other than this machine's (LAB_TEST_KERNEL)"
    done = subprocess.run([sys.executable, "-m", "lab", "matrix", KERNEL, "--names", "crash-reset",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = (tmp_path / kernel.release).glob("*-crash-reset/result.json")
    record = json.loads(path.read_text())
    assert record["complete"] and record["verdict"]["passed"]
    assert record["environment"]["kernel"] == kernel.release
    assert record["environment"]["backend"] == "netns"
    observed = {s["number"]: s["observed"] for s in record["verdict"]["steps"]}
    crash = load(path_for("crash-reset"))
    read, write = (step(crash, after="write-a", call=call).number for call in ("recv", "send"))
    assert (observed[read], observed[write]) == ("EOF", "EPIPE")
    assert (path.parent / "server.pcap").stat().st_size > 24
    assert (tmp_path / kernel.release / "junit.xml").is_file()
    [row] = json.loads((tmp_path / "matrix.json").read_text())["kernels"]
    assert row["release"] == kernel.release and row["verdicts"] == {"passed": 1, "failed": 0, "skipped": 0}
    assert row["boot_seconds"] > 0 and kernel.release in (tmp_path / "compare.html").read_text()
