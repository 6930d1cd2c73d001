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

from lab import counters, faults, packets, probes, runtimes, socket_table, verdict
from lab.calls import Agent, outcome
from lab.capture import Captures
from lab.errors import FaultError, HostGone, StepTimeout
from lab.faults.base import FaultContext
from lab.topology import route_through_routers, run_addresses, topology, unowned
from lab.record import Observation
from lab.scenario.model import parse_version

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


def runtime_gap(scenario, observations):
    """Why the run is SKIPPED when a runtime had no API for a step (never passed, never faked)."""
    last = observations[-1] if observations else None
    if last is None or last.outcome != "SKIPPED":
        return None
    step = scenario.step(last.number)
    return f"runtime {scenario.hosts[step.host].runtime} ({step.host}, step {step.label}): {last.event['skipped']}"


class Steps:
    """Runs a scenario's steps in order against live hosts, one Observation each."""

    def __init__(self, scenario, hosts, progress, run_id, others=None):
        self.scenario = scenario
        self.hosts = hosts
        self.others = others or {}  # addresses no host owns, by name (unowned)
        self.progress = progress
        self.agents = {}      # host name -> its current agent
        self.logs = {}        # host name -> every line to and from its agents
        self.runtimes = {}    # host name -> its agent's runtime, version and SIGPIPE disposition (hello)
        self.ends = {}        # (host, socket name) -> (local, peer) as its agent last reported them
        self.applied = {}     # step label -> (fault, context), until healed
        self.run_id = run_id

    def agent(self, name):
        agent = self.agents.get(name)
        if agent is None or not agent.alive:  # a host's next call after an exit starts a new program
            agent = Agent(self.hosts[name], self.scenario.hosts[name].sigpipe)
            self.agents[name] = agent
            self.logs.setdefault(name, []).append(agent.log)
            self.runtimes.setdefault(name, {k: agent.hello.get(k) for k in ("runtime", "version", "sigpipe")})
        return agent

    def call_args(self, step):
        args = dict(step.args)
        if step.call == "listen":
            args.setdefault("family", int(self.hosts[step.host].family))
        if "to" in args:
            to, family = args.pop("to"), str(args.pop("family", self.hosts[step.host].family))
            args["addr"] = self.others[to] if to in self.others else self.hosts[to].addresses.get(family)
            if args.pop("by", "address") == "name" and to not in self.others:
                args["addr"] = to
        return args

    def running(self, step):
        """The program a wait or a kill acts on; None when the host runs none."""
        agent = self.agents.get(step.host)
        if agent is None or (not agent.alive and step.wait != "exit"):
            return None
        return agent

    def run_one(self, step):
        if step.call:
            agent = self.agent(step.host)
            if "skipped" in agent.hello:  # the runtime cannot set up what the host asks (--sigpipe=default)
                return "SKIPPED", {"op": step.call, "skipped": agent.hello["skipped"]}
            args = self.call_args(step)
            if "addr" in args and args["addr"] is None:  # an IPv4 run's hosts have no IPv6 address
                return "ERROR", {"error": f"{step.args['to']} has no IPv{step.args['family']} address in this run"}
            # a name resolves to an address per family, and a runtime may give each the whole timeout
            event = agent.call(step.call, args, step.timeout, attempts=2 if step.args.get("by") == "name" else 1)
            if event.get("peer"):  # a pending Java connect has no local address to report (None)
                self.ends[step.host, step.args.get("sock", "conn")] = (event.get("local"), event["peer"])
            return outcome(step.call, event), event
        if (step.wait or step.fault == "kill") and self.running(step) is None:
            return "ERROR", {"error": f"no program is running on {step.host} for this step"}
        if step.wait == "exit":
            agent = self.agents[step.host]
            try:
                event = {"op": "exit", "exit": agent.wait_exit(step.timeout)}
            except StepTimeout:
                event = {"op": "exit", "timeout": step.timeout}
            return outcome("exit", event), event
        if step.wait:
            args = {"sock": step.args.get("sock", "conn")}
            if step.wait == "state":
                state = step.args["state"]
                args["want"] = [state] if isinstance(state, str) else state
            event = self.agents[step.host].call(step.wait, args, step.timeout)
            if "skipped" in event:  # the runtime has no TCP_INFO or SIOCOUTQ: the lab reads the kernel's table
                others = {socket_table.ends_of(*local) for (host, sock), (local, _) in self.ends.items()
                          if host == step.host and sock != args["sock"] and local}
                event = socket_table.wait(self.hosts[step.host], step.wait, self.ends.get((step.host, args["sock"])),
                                          args.get("want", ()), step.timeout, others)
            return outcome(step.wait, event), event
        return self.fault(step)

    def fault(self, step):
        if step.fault == "heal":
            if step.args["of"] not in self.applied:
                return "ERROR", {"error": f"the fault of step {step.args['of']} is not in force"}
            fault, ctx = self.applied.pop(step.args["of"])
            try:
                fault.revert(ctx)
            except FaultError as exc:
                return "ERROR", {"fault": f"heal of step {step.args['of']} failed", "error": str(exc)}
            return "ok", {"fault": f"healed step {step.args['of']}", "heals": step.args["of"]}
        fault = faults.build(step)
        ctx = FaultContext(host=self.hosts[step.host], agent=self.agents.get(step.host),
                                  hosts=self.hosts, tag=f"tfl-{self.run_id}-{step.label}")
        try:
            record = fault.apply(ctx)
        except (FaultError, HostGone) as exc:  # the host refused (a rule, a qdisc): the step fails, the run goes on
            return "ERROR", {"fault": f"{step.fault}: {exc}", "error": str(exc)}
        self.applied[step.label] = (fault, ctx)
        if fault.ends_processes:
            self.agents.pop(step.host, None)  # its programs are gone; the next call starts a new one
        return ("ok" if record.ok else "ERROR"), {"fault": record.text, "label": step.label}

    def heal_all(self):
        """Revert every fault still in place, latest first (the hosts are removed next,
        but a netns or a reused host must not keep a rule); one failure stops none of
        the others. Returns what could not be undone, one line per fault."""
        unhealed = []
        while self.applied:
            label, (fault, ctx) = self.applied.popitem()
            try:
                fault.revert(ctx)
            except FaultError as exc:
                unhealed.append(f"step {label} ({type(fault).__name__.lower()}): {exc}")
        return unhealed

    def run(self):
        observations = []
        for step in self.scenario.steps:
            self.progress(f"step {step.number}/{len(self.scenario.steps)}: {step.host} {step.action}")
            start = time.time()
            token, event = self.run_one(step)
            end = time.time()
            start = event.get("start", {}).get("real", start)
            end = event.get("end", {}).get("real", end)
            observations.append(Observation(step.number, token, start, end, event))
            if event.get("hung") or token == "SKIPPED":
                break  # the agent is stuck in a call, or its runtime cannot make it: later steps cannot run
        return observations


def run(scenario, backend, progress=lambda msg: None, run_id=None, runtime=None, family="4"):
    """Run one scenario on a backend over an address family ("4", "6"), each host's agent in its
    scenario entry's runtime, else `runtime` (python by default); return its RunResult (not yet
    written anywhere)."""
    run_id = run_id or new_run_id()
    scenario = runtimes.assign(scenario, runtime)
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
            skipped = scenario.family_gap(family) or probes.missing(scenario, hosts)
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
        env = {**backend.describe(), "machine": platform.node()}
        if "images" in env:  # the backend knows the images of every runtime it ran; this run used its own
            used = {f"host:{opts.runtime}" for opts in scenario.hosts.values()}
            env["images"] = {k: v for k, v in env["images"].items() if not k.startswith("host:") or k in used}
    lap("teardown")
    known = set(addresses.values())
    segments = {name: packets.parse(pcap, known) for name, pcap in pcaps.items()}
    judged = verdict.judge(scenario, parse_version(env["kernel"]), observations, segments, addresses,
                           {name: opts.runtime for name, opts in scenario.hosts.items()}, family, counted)
    judged = dataclasses.replace(judged, unhealed=tuple(unhealed))
    lap("verdict")
    agent_logs = {name: [line for log in logs for line in log] for name, logs in steps.logs.items()}
    return RunResult(
        scenario=scenario, run_id=run_id, env=env, timings=timings, observations=observations,
        verdict=judged, agent_logs=agent_logs, pcaps=pcaps, addresses=addresses, segments=segments,
        skipped=skipped, runtimes=steps.runtimes, family=family, counters=counted,
    )
