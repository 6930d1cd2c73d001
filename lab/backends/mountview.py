"""Read-only views of the machine's file system, for the netns backend's programs.

Run by confine.py as a script (standard library only, so it starts in a few
milliseconds): for each argument, a new mount namespace, a private copy of
the previous one (nothing propagates either way), in which every mount is
read-only but the folder the argument names ("-" for none), and whose /dev
is its own, as a container's is: the harmless devices only, since uid 0
needs no capability to open a disk its owner may write. With `--hosts=FILE`
first, FILE is the views' /etc/hosts (read-only too), as a container has its own. Then "ready" on
stdout and a wait for one line on stdin, while confine.py opens
/proc/<pid>/ns/mnt. That file descriptor keeps the view alive after this
process exits at the end of its input; the view goes when the last program
in it and the descriptor are gone, so nothing is left to clean.

Python has no mount(2), and util-linux 2.38's mount cannot make a tree
read-only in one call (mount_setattr needs Linux 5.12; the lab's VMs run
5.10), so each mount is remounted by itself through libc: about a
millisecond for thirty mounts, where a `mount` process each would take 150.
"""

import ctypes
import errno
import os
import re
import signal
import sys

CLONE_NEWNS = 0x20000
MS_RDONLY, MS_NOSUID, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x2, 0x20, 0x1000, 0x4000, 0x40000
# a container's /dev (Docker's), less its terminals and IPC: no program of the lab needs those
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
# a bind remount sets the mount's flags anew: keep those that take rights away
KEPT = os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC  # equal to MS_NOSUID, MS_NODEV, MS_NOEXEC
libc = ctypes.CDLL(None, use_errno=True)


def call(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, flags, fstype=None, data=None):
    call(libc.mount(source and os.fsencode(source), os.fsencode(target), fstype, flags, data), f"mount {target}")


def mounts():
    """{mount point: its mount's options}, for the mounts a path can reach: not one hidden under
    another mounted on the same point, nor one inside it (mountinfo escapes blanks as \\ooo)."""
    with open("/proc/self/mountinfo") as mountinfo:
        rows = {row[0]: row for row in (line.split() for line in mountinfo)}
    stacked = {(row[1], row[4]) for row in rows.values()}  # (id, point): a mount lies on that one's root

    def reachable(row, above=None):
        """Not covered (unless by `above`, whose path is asked), and its mount point reachable."""
        if (row[0], row[4]) in stacked and not (above and above[4] == row[4]):
            return False
        parent = rows.get(row[1])
        return parent is None or parent is row or reachable(parent, row)

    return {re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), row[4]): row[5].split(",")
            for row in rows.values() if reachable(row)}


def own_dev():
    """A tmpfs over /dev holding the machine's harmless devices (bound from the /dev it covers)."""
    machine = os.open("/dev", os.O_PATH)
    mount("tmpfs", "/dev", MS_NOSUID, b"tmpfs", b"mode=755,size=64k")
    for name in DEVICES:
        os.close(os.open(f"/dev/{name}", os.O_CREAT | os.O_WRONLY, 0o666))
        mount(f"/proc/self/fd/{machine}/{name}", f"/dev/{name}", MS_BIND)
    for name, target in LINKS.items():
        os.symlink(target, f"/dev/{name}")
    os.close(machine)


def wrong(writable):
    """Mount points whose read-only flag is not what the view wants."""
    return [point for point, options in mounts().items() if ("ro" in options) == (point == writable)]


def view(writable, first, hosts=None):
    call(libc.unshare(CLONE_NEWNS), "unshare")
    mount(None, "/", MS_REC | MS_PRIVATE)
    if first:
        own_dev()  # the next view copies this one's
        if hosts:
            mount(hosts, "/etc/hosts", MS_BIND)  # the run's names, as a container's /etc/hosts has them
    if writable:
        mount(writable, writable, MS_BIND)  # its own mount, so it can stay writable below
    for point in wrong(writable):
        try:
            kept = os.statvfs(point).f_flag & KEPT
            mount(None, point, MS_REMOUNT | MS_BIND | kept | (0 if point == writable else MS_RDONLY))
        except FileNotFoundError:
            pass  # its owner removed it meanwhile (an engine's layer), which detaches it here too
        except OSError as exc:
            # another run's namespace unmounted under /run/netns meanwhile (seen once in ~100 runs)
            if exc.errno != errno.EINVAL or point in mounts():
                raise
    left = wrong(writable)
    if left:
        raise SystemExit(f"mounts still writable (or the folder {writable} not): {left}")


def main(args):
    hosts = args.pop(0).removeprefix("--hosts=") if args and args[0].startswith("--hosts=") else None
    for i, folder in enumerate(args):
        view(None if folder == "-" else os.path.realpath(folder), first=i == 0, hosts=hosts)
        print("ready", flush=True)
        sys.stdin.readline()


if __name__ == "__main__":
    # the lab ends this helper by closing its stdin; a Ctrl-C or SIGTERM to the whole process
    # group is the lab's to handle (seen: a killed helper made an interrupted run exit 2)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    try:
        main(sys.argv[1:])
    except OSError as exc:
        sys.exit(str(exc))  # one line, for confine.py's error
