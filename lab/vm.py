"""Boot a Debian kernel in qemu with the lab inside, run one command, bring its files back.

This is how the catalogue runs on kernels other than the host's: `lab.kernels`
fetches them, `lab.initramfs` writes the guest's whole root file system, and
this module boots it and watches. The init prints a marker on the console
(ttyS0) when the command starts and when it ends, then sends a gzipped tar of
the collect directory down the second serial port, which qemu saves to a
file, and powers off. qemu runs with KVM when it can boot a stock kernel here
(see `kvm_works`), else TCG; `LAB_VM_ACCEL=kvm|tcg` forces one.
"""

import ctypes
import fcntl
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lab import initramfs, programs
from lab.cache import ROOT, scratch
from lab.errors import SetupError

MEMORY_MB, CPUS = 1024, 2
KVM_GET_API_VERSION, KVM_CREATE_VM = 0xAE00, 0xAE01


@dataclass(frozen=True)
class VmResult:
    status: int | None          # the command's exit status; None if it never finished
    console: str                # kernel and command output (ttyS0)
    boot_seconds: float | None  # qemu started -> the init starting the command
    command_seconds: float | None
    collected: Path | None      # where the collect directory was extracted; None if it did not come back whole
    accel: str                  # kvm or tcg
    timed_out: bool


def kvm_works():
    """Whether KVM can run a stock kernel here: a CPU with hardware virtualisation, and a VM created.

    /dev/kvm alone is not enough: nested under another hypervisor it may be a
    paravirtual KVM (kvm_pvm) that creates VMs but boots only kernels built for it.
    """
    flags = re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    if not flags or not {"vmx", "svm"} & set(flags.group(1).split()):
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION) != 12:
            return False
        os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def accelerator():
    forced = os.environ.get("LAB_VM_ACCEL")
    if forced not in (None, "", "kvm", "tcg"):
        raise SetupError(f"LAB_VM_ACCEL={forced!r}: use kvm or tcg")
    return forced or ("kvm" if kvm_works() else "tcg")


def qemu_argv(kernel, initrd, results, accel):
    cpu = ["-cpu", "host"] if accel == "kvm" else ["-cpu", "max"]  # max: RDRAND seeds the guest's RNG
    return ["qemu-system-x86_64", "-accel", accel, *cpu, "-m", str(MEMORY_MB), "-smp", str(CPUS),
            "-nodefaults", "-display", "none", "-no-reboot",
            "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
            "-append", "console=ttyS0 panic=-1 quiet",
            "-serial", "stdio", "-serial", f"file:{results}"]


def die_with_parent():
    """In qemu's child: be killed if the lab dies without running its `finally` (SIGKILL)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run(kernel, argv, collect=f"{initramfs.PROJECT}/runs", dest=None, timeout=600.0, say=lambda msg: None,
        agents=(), tell=lambda line: None, cancel=None):
    """Boot `kernel` with the lab and the built `agents` inside, run `argv` in /opt/tcp-fault-lab,
    bring `collect` back into `dest`; `tell` gets each line the guest's console prints.

    `dest` defaults to a new directory under runs/. qemu is killed at `timeout`
    seconds, and on every way out of this function, Ctrl-C included; run from a
    thread (kernels side by side, lab.matrix), within a second of `cancel` (a threading.Event)
    being set, since Ctrl-C reaches only the main thread.
    """
    programs.require("qemu-system-x86_64", "qemu-system-x86")
    base, modules = initramfs.ensure_rootfs(say), initramfs.ensure_modules(kernel, say)
    accel, mark = accelerator(), f"lab-vm-{secrets.token_hex(4)}"
    dest = Path(dest or ROOT / "runs" / f"vm-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{kernel.release}")
    with scratch("vm") as tmp:
        initrd, results, errors = Path(tmp) / "initrd", Path(tmp) / "results", Path(tmp) / "qemu.err"
        with open(initrd, "wb") as out:
            for part in (base, modules):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            initramfs.call_archive(out, argv, collect, mark, agents)
        say(f"booting {kernel.release} under {accel.upper()}")
        started = time.monotonic()
        with open(errors, "wb") as stderr:
            qemu = subprocess.Popen(qemu_argv(kernel, initrd, results, accel), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=stderr,
                                    start_new_session=True, preexec_fn=die_with_parent)
        try:
            console, marks = watch(qemu, started + timeout, mark, tell, cancel)
        finally:
            if qemu.poll() is None:
                qemu.kill()
            qemu.wait()
            qemu.stdout.close()
        if "start" not in marks and qemu.returncode not in (0, -signal.SIGKILL):
            last = errors.read_text(errors="replace").strip().splitlines()[-1:]
            raise SetupError(f"qemu failed ({qemu.returncode}): {' '.join(last)}")
        timed_out = "exit" not in marks and time.monotonic() >= started + timeout
        collected = extract(results, dest) if "exit" in marks else None
        return VmResult(
            status=marks.get("exit", (None, None))[1],
            console=console,
            boot_seconds=marks["start"][0] - started if "start" in marks else None,
            command_seconds=marks["exit"][0] - marks["start"][0] if "exit" in marks else None,
            collected=collected, accel=accel, timed_out=timed_out)


def watch(qemu, deadline, mark, tell=lambda line: None, cancel=None):
    """Read the console until qemu exits, the deadline or `cancel` is set, each line to `tell`; note when
    the markers went by.

    Returns the console text and {"start": (t, None), "exit": (t, status)}.
    """
    pattern = re.compile(rf"^{mark} (start|exit)(?: (\d+))?\r?$".encode(), re.M)
    buf, seen, marks = bytearray(), 0, {}
    with selectors.DefaultSelector() as sel:
        sel.register(qemu.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and not (cancel and cancel.is_set()):
            if not sel.select(min(left, 1.0)):
                continue
            chunk = os.read(qemu.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            end = buf.rfind(b"\n") + 1
            for m in pattern.finditer(buf, seen, end):
                marks[m.group(1).decode()] = (time.monotonic(), int(m.group(2)) if m.group(2) else None)
            for line in bytes(buf[seen:end]).decode(errors="replace").splitlines():
                tell(line.rstrip("\r"))
            seen = max(seen, end)
    return buf.decode(errors="replace").replace("\r\n", "\n"), marks


def extract(results, dest):
    """Unpack the tar the guest sent on ttyS1 into `dest`; None when it is not whole."""
    try:
        with tarfile.open(results, "r:gz") as tar:
            members = tar.getmembers()  # reads to the end: a truncated archive fails here
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError):
        return None
    return dest
