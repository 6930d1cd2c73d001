"""A kernel that is not this machine's, booted in qemu, runs crash-reset on the netns backend.

The first run fetches the kernel from Debian's mirror and builds the VM's
root file system (about a minute, cached in .cache/); later runs boot at once.
"""

import json
import os
import platform
import shutil

import pytest

from lab import kernels, matrix, vm
from lab.errors import SetupError

pytestmark = pytest.mark.vm
KERNEL = os.environ.get("LAB_TEST_KERNEL", "6.1")


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


def test_crash_reset_passes_on_a_debian_kernel_in_qemu(kernel, tmp_path):
    assert kernel.release != platform.release(), "pick a kernel other than this machine's (LAB_TEST_KERNEL)"
    result = vm.run(kernel, matrix.guest_command(["crash-reset"]), dest=tmp_path, timeout=300)
    assert result.status == 0, result.console[-3000:]
    [path] = tmp_path.glob("*-crash-reset/result.json")
    record = json.loads(path.read_text())
    assert record["complete"] and record["verdict"]["passed"]
    assert record["environment"]["kernel"] == kernel.release
    assert record["environment"]["backend"] == "netns"
    observed = {s["number"]: s["observed"] for s in record["verdict"]["steps"]}
    assert (observed[17], observed[18]) == ("EOF", "EPIPE")
    assert (path.parent / "server.pcap").stat().st_size > 24
    assert (tmp_path / "junit.xml").is_file()
