"""A backend with no Docker, no root and no kernel of its own, so that the runner's steps,
heals, teardown and interrupt handling can be tested in milliseconds (httpx's MockTransport
is the model: every request goes to one handler the test writes).

Every thing done to a FakeBackend's hosts is one Call in `backend.log`, in order, and goes to
the test's `on_exec(call)` first: a command (`iptables -I …`, tcpdump's fence), the lifecycle
of a run (`up`, `down`), of a host (`stop`, `kill -s SIGKILL 2`, `capture start`) and each
agent command (`agent connect`). The handler answers commands with an ExecResult (default:
success, no output), and may raise for any call (FaultError, HostGone, KeyboardInterrupt,
a bug's exception) to stand for what a real host would do at that moment. `on_agent(call, cmd)`
answers the agent's commands: the event's fields ({"errno": "ECONNRESET"}, {"ret": 5};
default {"ret": None}, i.e. ok), an int: the agent dies in that call with that status, or
None: the agent never answers (it hangs in the call).

The agent is scripted, not lab/sockops.py run on loopback: the runner never judges a socket
result (the verdict does, and the Docker and netns tests measure real ones), while a script
can give any outcome on demand (ECONNRESET, a SIGPIPE death, a hang) in microseconds, and two
runs on one machine do not collide on the agent's 0.0.0.0 ports. It speaks the line protocol
of lab/agents/PROTOCOL.md as the python agent does (hello with op, pid and start; one JSON
event per command with its clocks; `exit`), so lab/calls.py runs unchanged; tests/test_agents.py
holds the real agents to that protocol.

The backend keeps no run state (as the contract asks): each run's hosts live on its
FakeDeployment. `log` and `deployments` are only the test's window; the fake never reads them.
"""

import io
import itertools
import json
import signal as signals
from dataclasses import dataclass

import dpkt

from lab.backends.base import Backend, Deployment, ExecResult, Host, LineProcess, Sidecar
from lab.errors import HostGone
from lab.sockops import clocks

OK = ExecResult(0, "")
KEEPS_RUNNING = ("SIGSTOP", "SIGCONT")


def scenario_text(steps, hosts=("server", "client"), name="fake"):
    """A scenario's YAML around these step lines, wanting no packet: the fake captures none."""
    return (f"name: {name}\nsummary: s\nstory: t\nhosts: {{{', '.join(f'{h}: null' for h in hosts)}}}\n"
            f"steps:\n{steps}packets:\n  - {{max: 0, why: the fake backend captures nothing}}\n")


def refused(stderr):
    """What a host says when a command fails: exit status 1 and its words."""
    return ExecResult(1, "", stderr)


def empty_pcap():
    """A pcap with its header and no packet, as a capture that saw nothing leaves."""
    dpkt.pcap.Writer(out := io.BytesIO())
    return out.getvalue()


@dataclass(frozen=True)
class Call:
    run_id: str
    host: str | None   # None for the run itself (up, down)
    argv: tuple

    @property
    def text(self):
        return " ".join(map(str, self.argv))


class FakeAgent(LineProcess):
    """The agent's side of the line protocol, answered by the backend's on_agent."""

    def __init__(self, host):
        super().__init__()
        self.host, self.pid, self._rc = host, next(host.backend.pids), None
        self.lines.put(json.dumps({"op": "hello", "pid": self.pid, "start": clocks()}))

    def write_line(self, line):
        cmd, start, backend = json.loads(line), clocks(), self.host.backend
        backend.on_exec(call := self.host.note(("agent", cmd["op"])))
        answer = {} if cmd["op"] == "exit" else backend.on_agent(call, cmd)
        if answer is None:
            return  # hung: the runner's deadline runs out
        if isinstance(answer, int):
            return self.end(answer)
        self.lines.put(json.dumps({"id": cmd["id"], "op": cmd["op"], "sock": cmd.get("sock"), "start": start,
                                   "ret": None, **answer, "end": clocks()}))
        if cmd["op"] == "exit":
            self.end(0)

    def end(self, rc):
        if self._rc is None:
            self._rc = rc
            self.lines.put(None)

    @property
    def returncode(self):
        return self._rc


class FakeSidecar(Sidecar):
    """tcpdump beside a host: it ends when the host stops (its interface is gone)."""

    def __init__(self, host):
        self.host, self.stopped = host, False

    def exec(self, argv):
        return self.host.call(*argv, beside=True)

    @property
    def running(self):
        return not (self.stopped or self.host.stopped)

    def wait_for_output(self, text, timeout):
        self.host.call("capture", "wait", text, beside=True)

    def stop(self, timeout):
        self.host.call("capture", "stop", beside=True)
        self.stopped = True

    def fence(self, payload):
        return self.host.call("capture", "fence", payload.hex(), beside=True).succeeded

    def holds(self, marker):
        return self.host.call("capture", "holds", marker.decode(), beside=True).succeeded

    def pcap(self):
        self.host.call("capture", "pcap", beside=True)
        return self.host.backend.pcaps.get(self.host.name, empty_pcap())


class FakeHost(Host):
    agent_argv = ["agent"]

    def __init__(self, backend, run_id, spec, address, family="4"):
        self.backend, self.run_id, self.addresses, self.family = backend, run_id, {family: address}, family
        self.name, self.router = spec.name, spec.router
        self.stopped, self.processes = False, []

    def call(self, *argv, beside=False):
        """Log the call, then answer it by the handler."""
        return self.backend.on_exec(self.note(argv, beside)) or OK

    def note(self, argv, beside=False):
        """Log the call. A stopped host runs nothing (HostGone); its capture's
        sidecar (beside) still answers, as a container beside a stopped one does."""
        call = Call(self.run_id, self.name, tuple(argv))
        self.backend.log.append(call)
        if self.stopped and not beside and argv[0] != "start":
            raise HostGone(f"{self.name} is stopped")
        return call

    def exec(self, argv):
        return self.call(*argv)

    def spawn(self, argv):
        self.call("spawn", *argv)
        self.processes.append(FakeAgent(self))
        return self.processes[-1]

    def start_capture(self, max_packets):
        self.call("capture", "start")
        return FakeSidecar(self)

    def kill(self, pid, signal):
        done = self.call("kill", "-s", signal, pid)
        if done.succeeded and signal not in KEEPS_RUNNING:
            for process in self.processes:
                if process.pid == pid:
                    process.end(128 + signals.Signals[signal])
        return done

    def stop(self):
        self.call("stop")
        for process in self.processes:
            process.end(137)
        self.stopped = True

    def start(self):
        self.call("start")
        self.stopped = False

    def pause(self):
        self.call("pause")

    def unpause(self):
        self.call("unpause")

    def disconnect(self):
        self.call("disconnect")

    def reconnect(self):
        self.call("reconnect")


class FakeDeployment(Deployment):
    torn_down = False


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, on_exec=lambda call: None, on_agent=lambda call, cmd: {}, pcaps=None, kernel="6.1.0-fake"):
        self.on_exec, self.on_agent, self.pcaps, self.kernel = on_exec, on_agent, pcaps or {}, kernel
        self.log = []                     # of Call, every run's, in order (list.append is atomic)
        self.deployments = {}             # run id -> its FakeDeployment, for the test to look at
        self.pids = itertools.count(2)
        self.subnets = itertools.count(1)

    def up(self, topology):
        self.log.append(call := Call(topology.run_id, None, ("up",)))
        self.on_exec(call)
        subnet = next(self.subnets)
        deployment = self.deployments[topology.run_id] = FakeDeployment(topology.run_id)
        for i, spec in enumerate(topology.hosts):
            deployment.hosts[spec.name] = FakeHost(self, topology.run_id, spec, f"10.99.{subnet}.{i + 2}")
        return deployment

    def down(self, deployment):
        self.log.append(call := Call(deployment.run_id, None, ("down",)))
        self.on_exec(call)
        for host in deployment.hosts.values():
            for process in host.processes:
                process.end(137)
        deployment.torn_down = True

    def clean(self, everything=False):
        return []

    def describe(self):
        return {"backend": self.name, "kernel": self.kernel}

    def calls(self, run_id=None, host=None):
        """The log's lines ("client: iptables -D …", "down"), of one run and host if given."""
        return [f"{c.host}: {c.text}" if c.host else c.text for c in self.log
                if run_id in (None, c.run_id) and host in (None, c.host)]
