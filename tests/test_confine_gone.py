"""A killed program is gone only when its last thread is: the leader of a multi-threaded
program (a JVM, Go, Node) is a zombie while its other threads still hold its sockets."""

import platform
import subprocess
import sys
import time

import pytest

from lab.backends.confine import gone

# the main thread leaves with exit(2) (SYS_exit, 60 on x86-64), not exit_group: the process lives on
LEADER_LEAVES = """
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(30,)).start()
time.sleep(0.2)
ctypes.CDLL(None).syscall(60, 0)
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="SYS_exit is 60 on x86-64 only")
def test_a_zombie_leader_with_a_live_thread_is_not_gone():
    proc = subprocess.Popen([sys.executable, "-c", LEADER_LEAVES])
    try:
        deadline = time.monotonic() + 5
        while open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the leader never exited"
            time.sleep(0.01)
        assert not gone(proc.pid)  # its other thread still runs
    finally:
        proc.kill()
        proc.wait()
    assert gone(proc.pid)


# threads that exit one after another while the last one started (listed last) stays; the leader leaves
THREADS_LEAVING = """
import ctypes, random, threading, time
for _ in range(300):
    threading.Thread(target=time.sleep, args=(random.uniform(0.3, 1.5),)).start()
threading.Thread(target=time.sleep, args=(30,)).start()
ctypes.CDLL(None).syscall(60, 0)
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="SYS_exit is 60 on x86-64 only")
def test_threads_that_exit_while_being_looked_at_do_not_make_the_program_gone():
    """A thread that leaves between the listing of task/ and the read of its stat was
    taken for the whole program gone (the likely cause of a Java host's FIN missing in a
    CI run: the host's link was removed before the last thread closed the socket)."""
    proc = subprocess.Popen([sys.executable, "-c", THREADS_LEAVING])
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert not gone(proc.pid)  # its last thread still sleeps
    finally:
        proc.kill()
        proc.wait()
    assert gone(proc.pid)
