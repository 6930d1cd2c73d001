"""The external programs the image and kernel tooling runs (mmdebstrap, apt, dpkg-deb, depmod, pip).

`run` runs one to the end and turns any failure into one line, a `SetupError`
naming the program and its own error message, never a traceback. It also
undoes an interrupted program's work: mmdebstrap, run as root, mounts /proc,
/sys and /dev/pts in its chroot, and a SIGKILL leaves them mounted; its
workers outlive a killed parent too. So on any exception (Ctrl-C) the whole
process group gets SIGINT and time to clean up (about 4 s), then SIGKILL.
(mmdebstrap ignores a signal to itself alone while its workers run, so there
is no cleaning up after a lab killed by SIGKILL: the orphan finishes its build
and unmounts.)
"""

import contextlib
import os
import shutil
import signal
import subprocess

from lab.errors import SetupError

CLEAN_UP_SECONDS = 30   # an interrupted program's time to undo its work before SIGKILL


def require(program, package):
    """Fail early, saying what to install, when `program` is not on PATH."""
    if not shutil.which(program):
        raise SetupError(f"{program} is missing: install it with `apt-get install {package}`")


def sigint_at_default():
    """In the child: SIGINT at its default action, even where the lab itself started with it ignored
    (a job started with `&` by a script, or under nohup): a shell keeps a signal that was ignored when
    it started ignored, trap or not, so the SIGINT that asks the program to clean up would not reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(argv, what=None, hint="", cwd=None):
    """Run `argv` to the end and return its standard output; failing, one line saying why.

    `what` names the work in the message (default: the program); `hint` is
    appended to say what the user can do about it.
    """
    what = what or argv[0]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True,
                                preexec_fn=sigint_at_default)
    except OSError as exc:
        raise SetupError(f"{what} failed: cannot run {argv[0]}: {exc.strerror}{hint}") from None
    try:
        out, err = proc.communicate()
    except BaseException:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=CLEAN_UP_SECONDS)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    if proc.returncode != 0:
        raise SetupError(f"{what} failed (exit status {proc.returncode}): {cause(err, out)}{hint}")
    return out


def cause(stderr, stdout=""):
    """The line of a program's output that says what went wrong: apt's first `E:`, else the last line."""
    lines = [line.strip() for line in (stderr.strip() or stdout.strip()).splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("E:")), lines[-1] if lines else "no message")
