"""`lab matrix` on a kernel that is not this machine's: booted in qemu, it runs crash-reset
on the netns backend, in python and in c (the c agent, a static binary built here, put in the
guest), and brings both runs back. One boot serves both: under TCG here the c run took 5.6-6.8 s
in the guest and the test 3-10 s more than python alone (4 runs each, interleaved, median +9.9 s);
a second boot of its own costs about 25 s.

The first run fetches the kernel from Debian's mirror and builds the VM's
root file system (about a minute, cached in .cache/); later runs boot at once.
"""

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
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


@pytest.fixture(scope="module")
def matrix(kernel, tmp_path_factory):
    """One `lab matrix` of crash-reset in python and in c: the folder it wrote, and each runtime's record."""
    assert kernel.release != platform.release(), "pick a kernel other than this machine's (LAB_TEST_KERNEL)"
    out = tmp_path_factory.mktemp("matrix")
    done = subprocess.run([sys.executable, "-m", "lab", "matrix", KERNEL, "--names", "crash-reset",
                           "--runtime", "python", "--runtime", "c", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = {}
    for path in (out / kernel.release).glob("*-crash-reset*/result.json"):
        record = json.loads(path.read_text())
        records[record["cell"]["runtime"]] = (path, record)
    return out, records


def test_lab_matrix_runs_crash_reset_on_a_debian_kernel_in_qemu(kernel, matrix):
    out, records = matrix
    path, record = records["python"]
    assert record["complete"] and record["verdict"]["passed"]
    assert record["environment"]["kernel"] == kernel.release
    assert record["environment"]["backend"] == "netns"
    observed = {s["number"]: s["observed"] for s in record["verdict"]["steps"]}
    crash = load(path_for("crash-reset"))
    read, write = (step(crash, after="write-a", call=call).number for call in ("recv", "send"))
    assert (observed[read], observed[write]) == ("EOF", "EPIPE")
    assert (path.parent / "server.pcap").stat().st_size > 24
    assert (out / kernel.release / "junit.xml").is_file()
    summary = json.loads((out / "matrix.json").read_text())
    [row] = summary["kernels"]
    assert summary["runtimes"] == ["python", "c"]
    assert row["release"] == kernel.release and row["verdicts"] == {"passed": 2, "failed": 0, "skipped": 0}
    assert row["boot_seconds"] > 0 and kernel.release in (out / "compare.html").read_text()


def test_the_c_agent_built_here_runs_in_the_guest(kernel, matrix):
    out, records = matrix
    assert sorted(records) == ["c", "python"]
    path, record = records["c"]
    assert record["cell"] == {"scenario": "crash-reset", "runtime": "c", "family": "4", "kernel": kernel.release,
                              "key": f"crash-reset[c,ipv4,{kernel.release}]"}
    assert record["complete"] and record["verdict"]["passed"]
    assert set(record["runtimes"]) == {"client", "server"}
    for host in record["runtimes"].values():  # the hello of the agent that ran, not the scenario's wish
        assert host["runtime"] == "c"
        assert host["version"].startswith("glibc ") and ", gcc " in host["version"], host
    assert "crash-reset[netns,c]" in (out / kernel.release / "junit.xml").read_text()


def test_a_runtime_the_guest_cannot_run_fails_before_a_boot(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lab", "matrix", KERNEL, "--names", "crash-reset",
                           "--runtime", "java-nio", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "the java-nio runtime cannot run in a kernel VM" in done.stderr
    assert not any(tmp_path.iterdir())


def children(pid, name):
    """The pids of `pid`'s children whose command is `name` (as /proc cuts it, 15 characters)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm, ppid = fields[0].split("(", 1)[1], int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and comm == name[:15]:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_matrix_interrupted_while_its_vm_runs_stops_the_vm_and_exits(kernel, tmp_path, sig):
    """Ctrl-C (SIGINT to the whole group) or a CI runner's SIGTERM while a guest runs: the VM is
    watched from a worker thread (as when LAB_VM_JOBS=2 runs kernels side by side), which the signal does not reach; the
    lab still stops it and exits at once, not when the VM's timeout comes."""
    # connect-vanished-host: the guest would run 30 s or more (boot, pytest, its 22 s of ARP timers)
    lab = subprocess.Popen([sys.executable, "-m", "lab", "matrix", KERNEL, "--names", "connect-vanished-host",
                            "--out", str(tmp_path)], cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300  # the VM's root file system may be built first
        while not (qemu := children(lab.pid, "qemu-system-x86_64")) and time.monotonic() < deadline:
            assert lab.poll() is None, lab.stderr.read()
            time.sleep(0.2)
        assert qemu, "no VM started"
        time.sleep(1)  # booting
        os.killpg(lab.pid, sig)
        _, err = lab.communicate(timeout=10)
    finally:
        lab.kill()
    assert lab.returncode == 130, err
    assert "interrupted" in err
    assert not Path(f"/proc/{qemu[0]}").exists()
