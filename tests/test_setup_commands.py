"""The netns backend's own commands (`ip netns add/del`, `ip link`, sysctl) run to their end
when the user's Ctrl-C or CI's SIGTERM hits the whole process group: a teardown's
`ip netns del` killed halfway left a namespace behind after its run had released its lease
(seen in CI: tests/test_interrupt.py). The run raises the interrupt once the command is done."""

import os
import signal
import subprocess
import sys
import time

import pytest

# a lab-like process: one set-up command under deferred interrupts, as up() and down() run them
LAB = """
import sys
from lab.backends.netns_hosts import run
from lab.runner import deferred_interrupts
try:
    with deferred_interrupts():
        # a program that leaves its signal mask alone, as ip, nsenter and sysctl do (dash clears it)
        command = "import pathlib, time; pathlib.Path(%r).touch(); time.sleep(0.5); print('finished')"
        done = run([sys.executable, "-c", command % sys.argv[1]], check=False)
        print(done.returncode, done.stdout.strip(), flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_to_the_process_group_lets_a_set_up_command_finish(sig, tmp_path):
    started = tmp_path / "started"
    # SIGTERM as the CLI takes it (lab/cli.py): unwound like Ctrl-C
    prelude = "import signal\nsignal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))\n"
    lab = subprocess.Popen([sys.executable, "-c", prelude + LAB, str(started)], start_new_session=True,
                           stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not started.exists():
        assert time.monotonic() < deadline and lab.poll() is None, "the command never started"
        time.sleep(0.01)
    os.killpg(lab.pid, sig)
    out, _ = lab.communicate(timeout=10)
    assert out.split("\n")[:2] == ["0 finished", "interrupted"], out
