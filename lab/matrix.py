"""The catalogue on several Debian kernels, side by side.

For each kernel asked for, `lab.kernels` fetches Debian's build and
`lab.vm` boots it in qemu with the lab inside; there pytest runs the
catalogue on the netns backend (containers would need an engine in the
guest; namespaces need only the guest's own kernel, which is the point),
and every run directory (result.json, pcaps, agent logs, report.html)
and the guest's JUnit XML come back under `<out>/<kernel release>/`.
Then one compare matrix is built from all of them and any other result
files given (the host's own runs, another machine's CI artifacts), and
written next to them as `compare.html` and `compare.json`.

Kernels run one after the other: each VM uses both cores (2 vCPUs), and the
catalogue's timings (retransmission timers, keepalive probes) must not be
stretched by a neighbour.
"""

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lab import kernels, vm
from lab.errors import SetupError
from lab.reports import compare

# per kernel: boot, then the catalogue (about 45 s of it is the scenarios' own timers); under TCG on
# a loaded 2-core machine the catalogue alone has taken 520 s, so a busy machine may want more
VM_TIMEOUT = float(os.environ.get("LAB_VM_TIMEOUT", 600))


@dataclass
class KernelRun:
    request: str
    release: str
    accel: str
    boot_seconds: float | None
    catalogue_seconds: float | None
    status: int | None        # pytest's exit status in the guest (0 all passed, 1 some failed)
    verdicts: dict            # {"passed": n, "failed": n, "skipped": n} over the runs brought back
    directory: str


def guest_command(names):
    """pytest over the catalogue (or the named scenarios) on the netns backend, inside the guest."""
    paths = [f"scenarios/{n}.yaml" for n in names] if names else ["scenarios/"]
    return ["python3", "-m", "pytest", "-p", "lab.pytest_plugin", "-p", "no:cacheprovider", "-q",
            "--lab-backend", "netns", "--lab-out", "runs", "--junitxml", "runs/junit.xml", *paths]


def run_kernel(request, names, out, say):
    kernel = kernels.fetch(request, say)
    dest = out / kernel.release
    shutil.rmtree(dest, ignore_errors=True)  # an earlier matrix's runs of this kernel: not this one's
    say(f"{kernel.release}: booting, then the catalogue")
    result = vm.run(kernel, guest_command(names), dest=dest, timeout=VM_TIMEOUT, say=say)
    if result.collected is None:
        tail = "\n".join(result.console.strip().splitlines()[-15:])
        raise SetupError(f"the VM of {kernel.release} brought nothing back "
                         f"({'timed out' if result.timed_out else 'status ' + str(result.status)}); "
                         f"its console ended with:\n{tail}")
    (dest / "console.log").write_text(result.console)
    return KernelRun(request, kernel.release, result.accel, result.boot_seconds, result.command_seconds,
                     result.status, verdicts(dest), str(dest))


def verdicts(directory):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for path in directory.glob("*/result.json"):
        v = json.loads(path.read_text()).get("verdict", {})
        counts["skipped" if v.get("skipped") else "passed" if v.get("passed") else "failed"] += 1
    return counts


def run(requests, names=(), out=Path("runs/matrix"), also=(), say=lambda msg: None):
    """Run every kernel, then compare; return (the KernelRuns, the compare Matrix, seconds taken)."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = [run_kernel(request, names, out, say) for request in requests]
    matrix = compare.build(compare.find_records([*(Path(k.directory) for k in done), *also]))
    (out / "compare.json").write_text(compare.as_json(matrix) + "\n")
    (out / "compare.html").write_text(compare.as_html(matrix))
    seconds = time.monotonic() - started
    (out / "matrix.json").write_text(json.dumps({
        "kernels": [asdict(k) for k in done],
        "total_seconds": round(seconds, 1),
    }, indent=2) + "\n")
    return done, matrix, seconds
