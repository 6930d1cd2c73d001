"""pytest collects scenarios/*.yaml: one test item per scenario, backend, runtime and family.

    pytest scenarios/                       the catalogue, one item each
    pytest path/to/my-scenario.yaml         a scenario file of your own
    pytest scenarios/ --junitxml=out.xml    with kernel, backend, runtime and pcap path as properties
    pytest scenarios/ --lab-runtime c --lab-runtime java-nio
                                            the catalogue once per runtime: crash-reset[docker,c], ...
    pytest scenarios/ --lab-family 4 --lab-family 6
                                            ... once per address family: crash-reset[docker,ipv6], ...
    pytest scenarios/ --lab-shard 2/4       the second of four disjoint shares of those items (lab/shard.py),
                                            as a CI job of a fanned-out nightly runs it

A scenario whose every host names its runtime is one item whatever
--lab-runtime says (the option sets only hosts that name none).

After a session, runs/index.html links each run's report.html and
runs/catalogue-junit.xml has one testcase per step, packet rule and
evidence link; under pytest-xdist (`-n 2`) each worker hands its run
directories to the controller when it is done, which writes both. A file
that does not load is a collection error of one line; a scenario whose expectations fail is a failure showing the verdict
tables and the ladder; an engine that cannot be reached skips the item,
except under CI=true, where it fails (CI must never pass by skipping). Each
run tears itself down in `finally`, so the only session state is the list
of run directories for those reports; nothing is left to clean at the end.
"""

import functools
import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from lab import recording, runner, runtimes
from lab.cell import FAMILIES
from lab.errors import RuntimeUnavailable, ScenarioError, SetupError
from lab.record import RunRecord
from lab.reports import catalogue as catalogue_report, ladder, result as result_file, terminal
from lab.scenario.load import load
from lab.cli_args import shard as shard_arg
from lab.shard import cells_of

RUN_DIRS = pytest.StashKey[list]()
DURATIONS_KEY = "lab/durations"   # in pytest's cache: each scenario item's last run time, by node id


def pytest_addoption(parser):
    group = parser.getgroup("lab", "tcp-fault-lab")
    group.addoption("--lab-backend", default="docker", help="where scenario hosts run (default: docker)")
    group.addoption("--lab-out", default=str(runner.RUNS), help="where run directories go (default: runs/)")
    group.addoption("--lab-runtime", action="append", choices=runtimes.NAMES, default=[],
                    help="run each scenario with this runtime's agents (repeatable; default: python)")
    group.addoption("--lab-family", action="append", choices=FAMILIES, default=[],
                    help="run each scenario over this address family (repeatable; default: 4)")
    group.addoption("--lab-shard", type=shard_arg, metavar="I/N",
                    help="only the I-th of N disjoint shares of the items (lab/shard.py); 1/N..N/N are all of them")
    group.addoption("--lab-cell", action="append", default=[], metavar="SCENARIO:RUNTIME:FAMILY",
                    help="only these items (repeatable): how `lab matrix --shard` gives a kernel VM its share")


class WorkerRuns:
    """The xdist controller's side: each worker's run directories, as it goes down."""

    def __init__(self, config):
        self.config = config

    def pytest_testnodedown(self, node, error):
        self.config.stash[RUN_DIRS] += [Path(d) for d in getattr(node, "workeroutput", {}).get("lab_run_dirs", [])]


class Durations:
    """Each scenario item's run time, kept in pytest's cache for the next session's order."""

    def __init__(self, cache):
        self.cache, self.seen = cache, {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.nodeid.split("::")[0].endswith(".yaml"):
            self.seen[report.nodeid] = report.duration

    def pytest_sessionfinish(self):
        if self.seen:
            self.cache.set(DURATIONS_KEY, {**self.cache.get(DURATIONS_KEY, {}), **self.seen})


def pytest_configure(config):
    config.stash[RUN_DIRS] = []
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(WorkerRuns(config), "lab-worker-runs")
    if getattr(config, "cache", None) is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Durations(config.cache), "lab-durations")
    # scenario items carry this mark; said here too for a repository whose own pytest config does not
    config.addinivalue_line("markers", "docker: needs a running Docker engine")


def pytest_collection_modifyitems(config, items):
    """--lab-shard and --lab-cell: the items of other shards are deselected (in every xdist worker alike).

    Under xdist the scenarios run longest first (after any other tests), by their times in the last
    session (pytest's cache; one never timed counts as longest): workers take items in order, and a
    15 s scenario taken last would run alone at the end. Without the cache (-p no:cacheprovider, a
    fresh clone) the order stays.
    """
    cache = getattr(config, "cache", None)
    if cache is not None and hasattr(config, "workerinput"):  # an xdist worker: they all collect alike
        last = cache.get(DURATIONS_KEY, {})
        items.sort(key=lambda item: (isinstance(item, ScenarioItem), -last.get(item.nodeid, float("inf"))))
    shard, named = config.getoption("lab_shard"), config.getoption("lab_cell")
    if not (shard or named):
        return
    cells = [item.cell for item in items if isinstance(item, ScenarioItem)]
    keep = set(shard.take(cells) if shard else cells)
    if named:
        keep &= {tuple(c.split(":")) for c in named}
    dropped = [item for item in items if isinstance(item, ScenarioItem) and item.cell not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not isinstance(item, ScenarioItem) or item.cell in keep]


def pytest_sessionfinish(session):
    """The catalogue's index page and per-step JUnit XML, for the runs of this session. A shard
    that holds no item (more shards than items) has nothing to do, which is no failure."""
    if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.getoption("lab_shard"):
        session.exitstatus = pytest.ExitCode.OK
    run_dirs = session.config.stash.get(RUN_DIRS, [])
    if hasattr(session.config, "workerinput"):  # an xdist worker: its controller writes the pages
        session.config.workeroutput["lab_run_dirs"] = [str(d) for d in run_dirs]
    elif run_dirs:
        catalogue_report.write(run_dirs, Path(session.config.getoption("lab_out")))


def pytest_collect_file(parent, file_path):
    """The catalogue's files, and any YAML file named on the command line (a team's own scenario)."""
    if file_path.suffix == ".yaml" and (file_path.parent.name == "scenarios" or parent.session.isinitpath(file_path)):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@functools.cache
def shared_backend(backend_name):
    from lab.backends import get_backend
    return get_backend(backend_name)


def require_engine(backend_name="docker"):
    """The backend, or a skip (a failure under CI=true) naming why there is none.

    One backend object per name serves the whole process (a backend keeps no run state:
    tests/test_shared_backend.py), so its client and the images it checked serve every run."""
    try:
        return shared_backend(backend_name)
    except SetupError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: integration tests must run, not skip)", pytrace=False)
        pytest.skip(str(exc))


class VerdictMismatch(Exception):
    """A scenario ran and at least one expectation failed."""


class ScenarioFile(pytest.File):
    def collect(self):
        try:
            scenario = load(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        backend = self.config.getoption("lab_backend")
        wanted, families = self.config.getoption("lab_runtime"), self.config.getoption("lab_family")
        own = all(opts.runtime for opts in scenario.hosts.values())  # its hosts' own runtimes: one, named
        for runtime, family, label in cells_of(scenario, wanted, families):
            parts = [backend, *([label] if wanted or own else []), *([f"ipv{family}"] if families else [])]
            yield ScenarioItem.from_parent(self, name=f"{scenario.name}[{','.join(parts)}]", scenario=scenario,
                                           runtime=runtime, family=family, cell=(scenario.name, label, family))


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario, runtime=None, family="4", cell=None, **kwargs):
        super().__init__(**kwargs)
        self.scenario = scenario
        self.runtime, self.family = runtime, family
        self.cell = cell   # (scenario, runtime label, family): what --lab-shard deals out
        self.add_marker("docker")

    def runtest(self):
        backend = require_engine(self.config.getoption("lab_backend"))
        try:
            res = recording.run_recorded(self.scenario, backend, Path(self.config.getoption("lab_out")),
                                         runtime=self.runtime, family=self.family)
        except RuntimeUnavailable as exc:  # a kernel VM's catalogue holds scenarios of runtimes it lacks
            pytest.skip(str(exc))
        directory = res.directory
        self.config.stash[RUN_DIRS].append(directory)
        self.user_properties += [
            ("kernel", res.env["kernel"]), ("backend", res.env["backend"]), ("family", self.family),
            ("run_dir", str(directory)),
            *[(f"runtime_{host}", opts.runtime) for host, opts in res.scenario.hosts.items()],
            *[(f"pcap_{host}", str(directory / f"{host}.pcap")) for host in res.pcaps],
        ]
        if res.skipped:
            pytest.skip(res.skipped)
        if not res.verdict.passed:
            self.add_report_section("call", "ladder", ladder.text(RunRecord.from_dict(result_file.record(res))))
            raise VerdictMismatch(res)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, VerdictMismatch):
            out = io.StringIO()
            terminal.show(excinfo.value.args[0], Console(file=out, width=120, color_system=None))
            return out.getvalue()
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.scenario.line - 1, f"scenario {self.scenario.name}"
