"""A scenario's steps against live hosts: each call through its host's agent, each wait,
kill and fault, one Observation each; and the faults healed after them (runner.py runs them)."""

import time

from lab import faults, socket_table
from lab.calls import Agent, outcome
from lab.errors import FaultError, HostGone, StepTimeout
from lab.faults.base import FaultContext
from lab.record import Observation


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
