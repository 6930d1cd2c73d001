"""The netns backend's programs: started with what Docker gives them, and ended.

On Docker (compose.yaml's x-host and x-capture) a host's programs hold no
capability but what its faults need (NET_ADMIN), a capture's hold NET_RAW
and SETGID, both run with no_new_privs, and neither can write the
machine's files. Here they run on the machine itself, so each is started as

    nsenter --net=<host's namespace> --mount=<role's view> --
        setpriv --no-new-privs --inh-caps=-all --bounding-set=-all,+<caps> -- argv

They stay uid 0, as in a container, so tcpdump's `-Z root`, file owners
and every errno are the same as there; for uid 0 the kernel sets the
permitted and effective sets to the bounding set at exec, so the program
holds exactly <caps> (tests/test_capabilities.py reads CapEff, CapPrm,
CapBnd and NoNewPrivs on both backends). nsenter and setpriv exec, never
fork, so the pid the lab holds is the program's. A role's view is a mount
namespace in which all of the machine's file system is read-only, but the
run's capture folder in the captures' view, and /dev holds only the
devices a container has (mountview.py).

Why this way: setpriv is util-linux, there wherever nsenter is, and costs
one exec per program (about 1 ms here). A mount namespace per program
would cost a remount of every mount each time (`unshare` and one `mount`
each: 5 ms a mount); two per run, made by one helper (30 to 50 ms) while
the lab builds the run's network and held by file descriptors, cost no
program more than nsenter's setns, and leave nothing to clean (a killed
lab's descriptors close with it). Another uid instead of root would change
what the programs see (tcpdump could not `-Z root`; files' owners differ).

What Docker gives and this does not: its seccomp profile (setpriv 2.38 has
none), a writable file system of the container's own (no program of the
lab writes anywhere but the capture folder), and terminals, /dev/shm and
/dev/mqueue (none of the lab's programs uses them).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lab.backends.base import LineProcess
from lab.backends.compose import compose_templates
from lab.errors import SetupError

MOUNTVIEW = Path(__file__).with_name("mountview.py")
NO_NEW_PRIVS = "no-new-privileges:true"  # compose's spelling


class PipeProcess(LineProcess):
    """A local child with stdin/stdout pipes; a thread splits its stdout into lines."""

    def __init__(self, argv):
        super().__init__()
        self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self):
        for line in self.popen.stdout:
            self.lines.put(line.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def _pump_stderr(self):
        for chunk in iter(lambda: self.popen.stderr.read1(4096), b""):
            self.stderr.append(chunk.decode(errors="replace"))

    def write_line(self, line):
        try:
            self.popen.stdin.write(line.encode() + b"\n")
            self.popen.stdin.flush()
        except OSError:
            pass  # the process is gone; read_line reports the end of stream

    @property
    def returncode(self):
        rc = self.popen.poll()
        return 128 - rc if rc is not None and rc < 0 else rc  # the engine's convention: 128+N


def kill_all(pids, timeout=5.0):
    """SIGKILL the processes and wait until they are gone (so their kernel has closed their sockets)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while not all(map(gone, pids)) and time.monotonic() < deadline:
        time.sleep(0.005)


def gone(pid):
    """Exited: no such process, or a zombie its parent has not reaped yet, with no thread left.

    A killed multi-threaded program (a JVM, Go, Node) shows its leader as a zombie while
    its other threads are still exiting; the last of them closes the sockets (seen: a
    Java host "restarted" before its FIN was sent). An exited thread leaves task/, and
    one may leave between the listing and the read of its stat: it is skipped, not
    taken for the whole program (taking it so is the likely cause of a Java host's FIN
    missing in a CI run: the host's link went before the last thread closed the socket).
    A killed program starts no thread, so the listing misses none."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return True
    for task in tasks:
        try:
            state = Path(task, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # this thread left after the listing
        if state != "Z":
            return False
    return True


def privileges(name, template):
    """(capabilities, no_new_privs) of a compose template; only `cap_drop: [ALL]` is mirrored."""
    if template.get("cap_drop") != ["ALL"]:
        raise SetupError(f"compose.yaml: x-{name} must drop ALL capabilities for the netns backend to mirror it")
    return frozenset(template.get("cap_add", ())), NO_NEW_PRIVS in template.get("security_opt", ())


class Confinement:
    """One run's views, and the argv that starts a program in a role, in a host's namespace.

    The helper that makes the views starts here and is waited for at the first
    program, so it works while the lab builds the run's network (the lab's own
    set-up is not confined)."""

    def __init__(self, capture_folder, hosts_file=None):
        host, capture = compose_templates()[:2]
        self.roles = {"host": privileges("host", host), "capture": privileges("capture", capture)}
        hosts = [f"--hosts={hosts_file}"] if hosts_file else []
        self.helper = subprocess.Popen([sys.executable, "-I", "-S", str(MOUNTVIEW), *hosts, "-", str(capture_folder)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.fds = {}
        self.lock = threading.Lock()  # captures start in parallel

    def view(self, role):
        """The descriptor of a role's view."""
        with self.lock:
            if not self.fds:
                self.fds = self._open_views()
            return self.fds[role]

    def _open_views(self):
        """Open each view the helper has made, while it waits: the hosts', then the captures'."""
        fds = {}
        try:
            for role in ("host", "capture"):
                if self.helper.stdout.readline() != b"ready\n":
                    raise SetupError(f"cannot make the {role}s' read-only view: "
                                     f"{self.helper.stderr.read().decode().strip()}")
                fds[role] = os.open(f"/proc/{self.helper.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
                self.helper.stdin.write(b"\n")
                self.helper.stdin.flush()
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            raise
        return fds

    def argv(self, netns, argv, role="host", caps=()):
        """nsenter opens the view through our descriptor's /proc path, so the program inherits none."""
        base, no_new_privs = self.roles[role]
        keep = "".join(f",+{cap.lower()}" for cap in sorted(base | set(caps)))
        return ["nsenter", f"--net={netns}", f"--mount=/proc/{os.getpid()}/fd/{self.view(role)}", "--",
                "setpriv", *(["--no-new-privs"] if no_new_privs else []), "--inh-caps=-all",
                f"--bounding-set=-all{keep}", "--", *argv]

    def close(self):
        """Let the views go (each lives on while a program runs in it); the helper ends at end of input."""
        with self.lock:
            for pipe in (self.helper.stdin, self.helper.stdout, self.helper.stderr):
                pipe.close()
            self.helper.wait()
            for fd in self.fds.values():
                os.close(fd)
            self.fds = {}
