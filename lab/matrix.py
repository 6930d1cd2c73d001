"""The catalogue on several Debian kernels, side by side.

For each kernel asked for, `lab.kernels` fetches Debian's build and
`lab.vm` boots it in qemu with the lab inside; there pytest runs the
catalogue on the netns backend (containers would need an engine in the
guest; namespaces need only the guest's own kernel, which is the point),
and every run directory (result.json, pcaps, agent logs, report.html)
and the guest's JUnit XML come back under `<out>/<kernel release>/`.
With runtimes (`--runtime c`, repeatable), the guest runs the catalogue
in each (`--lab-runtime`), and with `--family 6` (or both) over IPv6 too
(`--lab-family`); c's and go's agents are static binaries, built here
(`lab.runtimes`) and put in the guest's cache. The guest has no JRE and no
nodejs: asking for java or node, or naming a scenario whose hosts need them,
fails before a boot.
With `--shard I/N` (lab/shard.py) it runs only its share of the cells,
kernel by scenario by runtime by family: each kernel's guest is told its
cells (`--lab-cell`), and a kernel none of them names is not booted; the
shards' folders (or archives of them), given together to `lab compare`, make
the whole matrix's page.
Then one compare matrix is built from all of them and any other result
files given (the host's own runs, another machine's CI artifacts), and
written next to them as `compare.html` and `compare.json`.

Kernels run one after the other by default (VM_JOBS; LAB_VM_JOBS=2: two
at a time, each watched from a thread of the lab): each VM has two vCPUs,
and the catalogue's timings were measured with the guest alone on the
machine. Two at a time is faster but not the same: under TCG on a 2-core
machine (2026-11-30) the four kernels took 389-416 s (three runs, python,
IPv4) against 498 s one after the other (2026-11-29, a machine of the
same kind), as a guest leaves part of its vCPUs idle in its scenarios'
timers and the other guest uses them; but each catalogue took 175-197 s
instead of 115-121 s, and the busier guests did what the texts had not
measured: 2 of 152 cells failed in one of those runs, 2 and 3 of 304 in
two runs over both families (the texts of receiver-stopped,
netem-under-tbf, reset-before-accept and connect-vanished-host now give
what the busy guests did; netem-delay's and unowned-address's timing
windows and unowned-address's IPv6 solicitations do not). More at once
was slower still: three scenarios at a time in each of two guests took
412 s, two guests of one vCPU each 444 s, each with cells failing.

Inside a guest, GUEST_JOBS scenarios run at once (pytest-xdist;
LAB_GUEST_JOBS=1: one at a time): two halved the catalogue's time under
TCG and kept its timing windows (the four-kernel matrix over both
families passed once three ranges were widened from it). A guest's
pytest takes 5 s under TCG to start and collect the catalogue, in the
session and again in each worker.
"""

import json
import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from lab import kernels, runtimes, shard as shards, vm
from lab.errors import ScenarioError, SetupError
from lab.reports import compare

# per kernel and catalogue's worth of cells (a VM of two runtimes over both families gets four times it):
# boot, then the catalogue; under TCG on a loaded 2-core machine the catalogue alone has taken 520 s one
# kernel at a time, and two at a time stretch each by half, so a busy machine may want more
VM_TIMEOUT = float(os.environ.get("LAB_VM_TIMEOUT", 900))
# scenarios run at once inside a guest (pytest-xdist workers): most of a run under TCG is the guest's
# Python on one vCPU, or the scenario's own timers, so two at a time use the VM's second vCPU
GUEST_JOBS = int(os.environ.get("LAB_GUEST_JOBS", 2))
# kernels whose VMs run at once (LAB_VM_JOBS=2: two, faster, with timings the texts were not measured for)
VM_JOBS = int(os.environ.get("LAB_VM_JOBS", 1))


@dataclass
class KernelRun:
    request: str
    release: str
    accel: str
    boot_seconds: float | None
    catalogue_seconds: float | None
    status: int | None        # pytest's exit status in the guest (0 all passed, 1 some failed)
    verdicts: dict            # {"passed": n, "failed": n, "skipped": n} over the runs brought back
    directory: str | None     # None: the kernel could not be run (error says why)
    error: str | None = None


def attempt(request, *args, **kwargs):
    """run_kernel, or a KernelRun that says why this kernel could not run: one kernel that cannot
    be fetched, or whose VM times out or brings nothing back, does not stop the others."""
    try:
        return run_kernel(request, *args, **kwargs)
    except SetupError as exc:
        return KernelRun(request, "—", "—", None, None, None, {"passed": 0, "failed": 0, "skipped": 0}, None,
                         str(exc))


def guest_command(names, runtime_names=(), families=(), cells=()):
    """pytest over the catalogue (or the named scenarios; or the scenarios of `cells`, and only
    those cells: (scenario, runtime label, family)) on the netns backend, inside the guest.

    >>> guest_command(["crash-reset"], ["python", "c"], ["4", "6"])[-9:]
    ['--lab-runtime', 'python', '--lab-runtime', 'c', '--lab-family', '4', '--lab-family', '6', 'scenarios/crash-reset.yaml']
    >>> guest_command([], cells=[("drop-syn", "c", "6")])[-3:]
    ['--lab-cell', 'drop-syn:c:6', 'scenarios/drop-syn.yaml']
    >>> guest_command(["crash-reset", "drop-syn"])[-4:-2], "-n" in guest_command(["crash-reset"])
    (['-n', '2'], False)
    """
    items = len(cells) or len(names) * max(1, len(runtime_names)) * max(1, len(families)) or GUEST_JOBS
    jobs = ["-n", str(min(GUEST_JOBS, items))] if min(GUEST_JOBS, items) > 1 else []
    names = sorted({c[0] for c in cells}) if cells else names
    paths = [f"scenarios/{n}.yaml" for n in names] if names else ["scenarios/"]
    # -v: a line per scenario as it finishes, which the host passes on as progress
    return ["python3", "-m", "pytest", "-p", "lab.pytest_plugin", "-p", "no:cacheprovider", "-v",
            "--lab-backend", "netns", "--lab-out", "runs", "--junitxml", "runs/junit.xml", *jobs,
            *(x for r in runtime_names for x in ("--lab-runtime", r)),
            *(x for f in families for x in ("--lab-family", f)),
            *(x for c in cells for x in ("--lab-cell", ":".join(c))), *paths]


def guest_agents(names, runtime_names=()):
    """The built agents the guest needs: those of `runtime_names` and those its scenarios' hosts name.

    A runtime the guest cannot run is an error when it was asked for, or named by a scenario
    asked for by name; in the whole catalogue, its scenarios are SKIPPED in the guest, saying so.
    """
    from lab.scenario.load import known_names, load, path_for
    wanted = set(runtime_names)
    for name in wanted:
        runtimes.vm_check(name)
    for scenario_name in names or known_names():
        try:
            scenario = load(path_for(scenario_name))
        except ScenarioError:
            if names:
                raise
            continue  # the guest's pytest reports it, as a collection error of its own
        named = {opts.runtime for opts in scenario.hosts.values() if opts.runtime}
        for name in named if names else ():
            runtimes.vm_check(name)
        wanted |= named & set(runtimes.VM_RUNTIMES)
    return [runtimes.build(name) for name in sorted(wanted) if name != runtimes.DEFAULT]


def finished(release, tell):
    """A guest console line that says a scenario finished, to `tell`: pytest -v's `path::id PASSED [ 3%]`,
    or under xdist `[gw0] [  3%] PASSED path::id`; not the summary's `FAILED path::id - why`.

    >>> seen = []
    >>> for text in ("[    3.1] random: crng init done", "scenarios/x.yaml::x[netns] PASSED   [ 50%]",
    ...              "[gw1] [100%] FAILED scenarios/y.yaml::y[netns] ",
    ...              "FAILED scenarios/y.yaml::y[netns] - y — what it shows"):
    ...     finished("6.1.0", seen.append)(text)
    >>> seen
    ['6.1.0: x[netns] PASSED [50%]', '6.1.0: y[netns] FAILED [100%]']
    """
    def line(text):
        item, word = re.search(r"::(\S+)", text), re.search(r"\b(PASSED|FAILED|SKIPPED|ERROR)\b", text)
        if item and word and not text.startswith(word.group(1)):
            done = re.search(r"\[ *(\d+%)\]", text)
            tell(f"{release}: {item.group(1)} {word.group(1)}" + (f" [{done.group(1)}]" if done else ""))
    return line


def run_kernel(request, names, out, say, runtime_names=(), agents=(), families=(), tell=lambda msg: None, cells=(),
               timeout=VM_TIMEOUT, cancel=None):
    kernel = kernels.fetch(request, say)
    dest = out / kernel.release
    shutil.rmtree(dest, ignore_errors=True)  # an earlier matrix's runs of this kernel: not this one's
    in_runtimes = f" in {', '.join(runtime_names)}" if runtime_names else ""
    in_runtimes += f" over IPv{' and IPv'.join(families)}" if families else ""
    say(f"{kernel.release}: booting, then the catalogue{in_runtimes}")
    result = vm.run(kernel, guest_command(names, runtime_names, families, cells), dest=dest, timeout=timeout, say=say,
                    agents=agents, tell=finished(kernel.release, tell), cancel=cancel)
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


def shares(shard, requests, names=(), runtime_names=(), families=()):
    """{kernel request: (its cells in this shard, its VM's timeout)} for the kernels that have any;
    without a shard, every kernel with no cells named (its whole catalogue). A VM's timeout is
    VM_TIMEOUT per catalogue's worth of cells (as many cells as scenarios asked for)."""
    from lab.scenario.load import known_names
    if shard is None:
        return {request: ((), VM_TIMEOUT * max(1, len(runtime_names)) * max(1, len(families))) for request in requests}
    catalogue = len(names or known_names())
    cells = shard.take((scenario, request, label, family) for request in dict.fromkeys(requests)
                       for scenario, label, family in shards.catalogue_cells(names, runtime_names, families))
    if not cells:
        raise ScenarioError(f"shard {shard} holds no cell: the matrix has fewer than {shard.count}")
    share = {r: tuple((s, label, f) for s, k, label, f in cells if k == r) for r in requests}
    return {r: (mine, VM_TIMEOUT * max(1.0, len(mine) / catalogue)) for r, mine in share.items() if mine}


def run(requests, names=(), out=Path("runs/matrix"), also=(), runtime_names=(), say=lambda msg: None, families=(),
        tell=lambda msg: None, shard=None):
    """Run every kernel (the catalogue in each of `runtime_names`, default python, over each of
    `families`, default IPv4; with a lab.shard.Shard only its cells, and only the kernels they name),
    then compare; return (the KernelRuns, the compare Matrix, seconds taken).
    say(what runs now); tell(each guest scenario as it finishes)."""
    runtime_names = list(dict.fromkeys(runtime_names))
    agents = guest_agents(names, runtime_names)  # before any fetch: a runtime the guest lacks fails here
    share = shares(shard, requests, names, runtime_names, families)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    cancel = threading.Event()  # Ctrl-C reaches this thread only: it tells the others' VMs to stop
    pool = ThreadPoolExecutor(max(1, VM_JOBS))
    try:
        running = [pool.submit(attempt, request, names, out, say, runtime_names, agents, families, tell, cells,
                               timeout, cancel=cancel) for request, (cells, timeout) in share.items()]
        for future in as_completed(running):
            future.result()  # attempt() returns what a kernel's failure was; anything else stops the rest
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(cancel_futures=True)
    done = [future.result() for future in running]
    ran = [Path(k.directory) for k in done if k.directory]
    if not ran and not also:
        raise SetupError("no kernel could run: " + "; ".join(f"{k.request}: {k.error}" for k in done))
    matrix = compare.build(compare.find_records([*ran, *also]))
    (out / "compare.json").write_text(compare.as_json(matrix) + "\n")
    (out / "compare.html").write_text(compare.as_html(matrix))
    seconds = time.monotonic() - started
    (out / "matrix.json").write_text(json.dumps({
        "runtimes": runtime_names or [runtimes.DEFAULT],
        "families": list(families) or ["4"],
        "shard": shard and str(shard),
        "kernels": [asdict(k) for k in done],
        "total_seconds": round(seconds, 1),
    }, indent=2) + "\n")
    return done, matrix, seconds
