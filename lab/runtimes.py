"""The six runtimes a host's program can be written in, and how each agent is built and started.

A runtime is the language and library a host's agent makes its socket calls
with (lab/agents/PROTOCOL.md): `c`, `python`, `java-nio`, `java-socket`, `go`,
`node`. Each agent is built once on this machine from lab/agents/ into the
cache (`agents/<image>-<digest of its sources>/`), with Debian's toolchains
(`make runtimes` installs them):

- c and go are linked statically (`gcc -static`, `CGO_ENABLED=0`), so the
  same file runs in a host image, in a network namespace and in a kernel VM
  whatever libc is there;
- java is compiled for release 17 (bookworm's JRE, the lab's images) and
  needs a JRE where it runs, node needs nodejs: those come from Debian's
  packages in the host image (`IMAGE_PACKAGES`), and from this machine on
  the netns backend.

Both Java runtimes share one build and one image: they differ only in the
class that runs.

    >>> [r.name for r in RUNTIMES.values() if r.image == "java"]
    ['java-nio', 'java-socket']
    >>> RUNTIMES["java-nio"].argv("/opt/lab/agent")
    ['java', '-cp', '/opt/lab/agent', 'NioAgent']
"""

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from lab.cache import ROOT, cache_dir, digest, locked
from lab.errors import RuntimeUnavailable, SetupError

AGENTS = ROOT / "lab" / "agents"
DEFAULT = "python"


@dataclass(frozen=True)
class Runtime:
    name: str
    image: str           # the build and host image it shares with others ("java")
    sources: tuple       # files the agent is built from
    tools: tuple         # programs on this machine that build it, or run it on netns
    run: tuple           # argv prefix; "{dir}" is the built agent's folder

    def argv(self, agent_dir, python="python3"):
        return [python if part == "python3" else part.replace("{dir}", str(agent_dir)) for part in self.run]


JAVA_SOURCES = tuple(sorted((AGENTS / "java").glob("*.java")))
RUNTIMES = {r.name: r for r in (
    Runtime("c", "c", (AGENTS / "c" / "agent.c",), ("gcc",), ("{dir}/agent",)),
    Runtime("python", "python", (ROOT / "lab" / "sockops.py",), (), ("python3", "{dir}/sockops.py")),
    Runtime("java-nio", "java", JAVA_SOURCES, ("javac", "java"), ("java", "-cp", "{dir}", "NioAgent")),
    Runtime("java-socket", "java", JAVA_SOURCES, ("javac", "java"), ("java", "-cp", "{dir}", "SocketAgent")),
    Runtime("go", "go", (AGENTS / "go" / "agent.go",), ("go",), ("{dir}/agent",)),
    Runtime("node", "node", (AGENTS / "node" / "agent.js",), ("node",), ("node", "{dir}/agent.js")),
)}
NAMES = tuple(RUNTIMES)
IMAGE_PACKAGES = {"java": ("default-jre-headless",), "node": ("nodejs",)}  # what a host image adds to run them
TOOL_PACKAGES = {"gcc": "gcc libc6-dev", "go": "golang-go", "javac": "default-jdk-headless",
                 "java": "default-jdk-headless", "node": "nodejs"}
# A kernel VM's root file system (lab/initramfs.py) has python3 and takes c's and go's static agents
# from this machine's cache; a JRE or nodejs it does not have.
VM_RUNTIMES = ("python", "c", "go")
IN_VM = "LAB_IN_VM"   # set by the VM's init: the agents there are the ones the lab put in, no toolchain


def get(name):
    try:
        return RUNTIMES[name]
    except KeyError:
        raise SetupError(f"no runtime {name!r}: the runtimes are {', '.join(NAMES)}") from None


def need_tools(runtime):
    missing = [t for t in runtime.tools if shutil.which(t) is None]
    if missing:
        packages = " ".join(sorted({TOOL_PACKAGES[t] for t in missing}))
        raise SetupError(f"the {runtime.name} agent needs {', '.join(missing)} on this machine "
                         f"(Debian: {packages}); `make runtimes` installs them")


def compile_into(runtime, out):
    """Build runtime's agent into the folder out."""
    if runtime.image == "c":
        commands = [["gcc", "-O2", "-static", "-o", str(out / "agent"), str(runtime.sources[0])]]
    elif runtime.image == "go":
        commands = [["go", "build", "-trimpath", "-o", str(out / "agent"), str(runtime.sources[0])]]
    elif runtime.image == "java":
        commands = [["javac", "--release", "17", "-d", str(out), *map(str, runtime.sources)]]
    else:  # interpreted: the source is the agent
        commands = []
        for source in runtime.sources:
            shutil.copy(source, out / source.name)
    go_cache = cache_dir() / "go"
    env = dict(os.environ, CGO_ENABLED="0", GOCACHE=str(go_cache / "build"), GOPATH=str(go_cache / "path"),
               GO111MODULE="off", GOTOOLCHAIN="local", GOFLAGS="")
    for argv in commands:
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SetupError(f"building the {runtime.name} agent failed: {' '.join(argv)}\n{done.stderr.strip()}")


def key(runtime):
    return f"{runtime.image}-{digest(*(f.read_bytes() for f in runtime.sources), 'static,release17')}"


def vm_check(name):
    """SetupError unless runtime `name`'s agent can run in a kernel VM.

    >>> vm_check("c")
    >>> vm_check("node")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lab.errors.RuntimeUnavailable: the node runtime cannot run in a kernel VM: its root file system has no nodejs (...)
    """
    runtime = get(name)
    if name not in VM_RUNTIMES:
        needs = " or ".join(IMAGE_PACKAGES.get(runtime.image, ())) or "toolchain for it"
        raise RuntimeUnavailable(f"the {name} runtime cannot run in a kernel VM: its root file system has no "
                         f"{needs} (the runtimes a VM runs: {', '.join(VM_RUNTIMES)})")


def build(name):
    """The folder holding runtime `name`'s built agent, built on first use."""
    runtime = get(name)
    out = cache_dir() / "agents" / key(runtime)
    if out.is_dir():
        return out
    if os.environ.get(IN_VM):  # python's agent is its source, copied; a built one comes from the lab
        vm_check(name)
        if runtime.tools:
            raise SetupError(f"the {name} agent was not put in this kernel VM ({out} is missing)")
    need_tools(runtime)
    with locked(out.with_name(out.name + ".lock")):
        if out.is_dir():
            return out
        tmp = out.with_name(f".{out.name}.{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            compile_into(runtime, tmp)
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def assign(scenario, default=None):
    """The scenario with every host's runtime set: its own entry's, else `default` (the
    command line's), else python.

    >>> from lab.scenario.model import HostOptions, Scenario
    >>> s = Scenario("x", "x.yaml", "", "", {"a": HostOptions(runtime="c"), "b": HostOptions()}, (), ())
    >>> {n: o.runtime for n, o in assign(s, "java-nio").hosts.items()}
    {'a': 'c', 'b': 'java-nio'}
    """
    get(default or DEFAULT)
    hosts = {name: replace(opts, runtime=opts.runtime or default or DEFAULT) for name, opts in scenario.hosts.items()}
    return replace(scenario, hosts=hosts)
