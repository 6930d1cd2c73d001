"""One scenario end to end: hosts up, capture, steps, capture back, teardown, verdict.

Teardown is in `finally`: it runs on success, on a failed expectation, on an
exception and on Ctrl-C (and SIGTERM, which the CLI turns into the same).
A run leaves only its directory under runs/.
"""

import contextlib
import dataclasses
import platform
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lab import counters, packets, probes, runtimes, verdict
from lab.capture import Captures
from lab.scenario.model import parse_version
from lab.steps import Steps, runtime_gap
from lab.topology import route_through_routers, run_addresses, topology, unowned

RUNS = Path(__file__).resolve().parent.parent / "runs"


def new_run_id():
    return f"{datetime.now(timezone.utc):%m%d%H%M%S}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def deferred_interrupts():
    """Hold Ctrl-C and SIGTERM until the block ends, then raise KeyboardInterrupt.

    Creating or removing engine objects must not be cut in half: an
    interrupted create may still complete on the engine after our teardown
    has looked for it, and an interrupted teardown leaves the rest behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def deployed(backend, topology, on_teardown=lambda: None):
    """The topology up for the block, and down after it, whatever ends the block.
    Neither up nor down is cut in half by Ctrl-C: one that comes meanwhile is
    raised when they finish, and down still runs."""
    deployment = None
    try:
        with deferred_interrupts():
            deployment = backend.up(topology)  # removes what it made if it fails
        yield deployment
    finally:
        on_teardown()
        with deferred_interrupts():
            if deployment is not None:
                backend.down(deployment)


@dataclass
class RunResult:
    scenario: object
    run_id: str
    env: dict
    timings: dict
    observations: list
    verdict: object
    agent_logs: dict
    pcaps: dict
    addresses: dict
    segments: dict
    skipped: str | None = None   # why the scenario could not run here
    runtimes: dict = dataclasses.field(default_factory=dict)  # host -> its agent's runtime and version
    family: str = "4"            # the address family of its hosts' traffic
    counters: dict = dataclasses.field(default_factory=dict)  # {"before"|"after": {host: {counter: value}}}
    directory: Path | None = None


def environment(backend, scenario):
    """What the run ran on: the backend's description, the machine, and of the host images the ones it used."""
    env = {**backend.describe(), "machine": platform.node()}
    if "images" in env:  # the backend knows the images of every runtime it ran; this run used its own
        used = {f"host:{opts.runtime}" for opts in scenario.hosts.values()}
        env["images"] = {k: v for k, v in env["images"].items() if not k.startswith("host:") or k in used}
    return env


def run(scenario, backend, progress=lambda msg: None, run_id=None, runtime=None, family="4"):
    """Run one scenario on a backend over an address family ("4", "6"), each host's agent in its
    scenario entry's runtime, else `runtime` (python by default); return its RunResult (not yet
    written anywhere)."""
    run_id = run_id or new_run_id()
    scenario = runtimes.assign(scenario, runtime)
    runtime_of = {name: opts.runtime for name, opts in scenario.hosts.items()}
    not_in_family = scenario.family_gap(family)
    if not_in_family:  # known from the scenario alone: no host is made only to be removed
        env = environment(backend, scenario)
        judged = verdict.judge(scenario, parse_version(env["kernel"]), [], {}, {}, runtime_of, family, {})
        return RunResult(scenario=scenario, run_id=run_id, env=env, timings={}, observations=[], verdict=judged,
                         agent_logs={}, pcaps={}, addresses={}, segments={}, skipped=not_in_family, family=family)
    timings = {}
    clock = time.monotonic()

    def lap(name):
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 3)
        clock = now

    progress("checking images")
    backend.ensure_images(sorted({opts.runtime for opts in scenario.hosts.values()}))
    lap("images")
    progress("starting hosts")
    with deployed(backend, topology(scenario, run_id, family), lambda: progress("tearing down")) as deployment:
        hosts = deployment.hosts
        with deferred_interrupts():
            route_through_routers(scenario, hosts)
            others = unowned(scenario, hosts)
            progress("probing the kernel")
            skipped = probes.missing(scenario, hosts)
            captures = Captures({} if skipped else {n: h for n, h in hosts.items() if scenario.hosts[n].capture})
            progress("starting captures")
            captures.start()
            counted = {"before": counters.read(hosts, counters.hosts_of(scenario))}
        lap("setup")
        steps = Steps(scenario, hosts, progress, run_id, others)
        unhealed = []
        try:
            observations = [] if skipped else steps.run()
            skipped = skipped or runtime_gap(scenario, observations)
        finally:
            with deferred_interrupts():
                unhealed = steps.heal_all()
                counted["after"] = counters.read(hosts, counters.hosts_of(scenario))
        lap("steps")
        progress("collecting captures")
        with deferred_interrupts():
            pcaps = captures.stop()
        lap("capture")
        addresses = run_addresses(scenario, hosts, others)
        env = environment(backend, scenario)
    lap("teardown")
    known = set(addresses.values())
    segments = {name: packets.parse(pcap, known) for name, pcap in pcaps.items()}
    judged = verdict.judge(scenario, parse_version(env["kernel"]), observations, segments, addresses,
                           runtime_of, family, counted)
    judged = dataclasses.replace(judged, unhealed=tuple(unhealed))
    lap("verdict")
    agent_logs = {name: [line for log in logs for line in log] for name, logs in steps.logs.items()}
    return RunResult(
        scenario=scenario, run_id=run_id, env=env, timings=timings, observations=observations,
        verdict=judged, agent_logs=agent_logs, pcaps=pcaps, addresses=addresses, segments=segments,
        skipped=skipped, runtimes=steps.runtimes, family=family, counters=counted,
    )
