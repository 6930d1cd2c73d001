"""Boot a Debian kernel in qemu with the lab inside, run one command, bring its files back.

This is how the catalogue runs on kernels other than the host's (`lab.kernels`
fetches them). The guest needs no disk: its root file system is an initramfs
made of three concatenated cpio archives, so no block or file system driver is
needed and each part is cached on its own:

- the base (`rootfs-<hash>.cpio`): the docker base image's recipe
  (`images/base/recipe.yaml`) plus what a bare init needs, made by mmdebstrap,
  with the lab's Python dependencies pip-installed for the guest's Python at the
  versions in `requirements.lock`; the hash covers those inputs;
- the kernel's modules (`modules-<package>_<version>.cpio`): netfilter, bridge,
  qdiscs, virtual links, crypto and lib, with whatever they depend on and the
  depmod indexes, so the guest's kernel loads them on demand;
- per call, small: this project's `lab/`, `scenarios/`, `pyproject.toml` and
  `compose.yaml` under /opt/tcp-fault-lab, and an /init that runs the command.

The archives are not compressed: under TCG the kernel unpacks 170 MB of cpio
in about 3 s and gunzips it in 1.5 s more, while copying them costs the host
a tenth of a second.

The init prints a marker on the console (ttyS0) when the command starts and
when it ends, then writes a gzipped tar of the collect directory to the second
serial port (ttyS1, set raw so the tty does not rewrite its bytes), which qemu
saves to a file, and powers off. qemu runs with KVM when it can boot a stock
kernel here (see `kvm_works`), else TCG; `LAB_VM_ACCEL=kvm|tcg` forces one.
"""

import ctypes
import fcntl
import os
import re
import secrets
import selectors
import shlex
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from lab.errors import SetupError
from lab.images import IMAGES, ROOT, apt_mirrors, digest, run_to_end
from lab.kernels import cache_dir, locked

PROJECT = "/opt/tcp-fault-lab"   # where the guest finds this project
PROJECT_FILES = ("lab", "scenarios", "pyproject.toml", "compose.yaml")  # what the lab reads at run time
# Besides the base recipe: what the init uses (mount, modprobe for on-demand modules).
GUEST_PACKAGES = ("kmod", "mount")
# Not needed in a guest, and large: docs, manuals, translations.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
                 "/usr/lib/x86_64-linux-gnu/gconv/*")
# pyproject's dependencies the guest does not use (it has no Docker engine), and the extras it does.
GUEST_PYTHON_SKIP = ("docker",)
GUEST_PYTHON_EXTRA = ("pytest",)
# Modules shipped to the guest, by path prefix, with what they depend on; the rest (file systems,
# NIC drivers, storage protocols, ...) only slows the boot. crypto and lib whole: soft dependencies.
MODULES = tuple(f"kernel/{p}" for p in (
    "net/netfilter/", "net/ipv4/", "net/ipv6/", "net/bridge/", "net/sched/", "net/core/",
    "net/802/", "net/8021q/", "net/llc/", "net/packet/",
    "drivers/net/veth.", "drivers/net/dummy.", "drivers/net/ifb.", "drivers/net/macvlan.",
    "drivers/net/ipvlan/", "drivers/net/vxlan", "drivers/net/tun.",
    "crypto/", "lib/", "arch/x86/crypto/"))
MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/merged-usr")
MEMORY_MB, CPUS = 1024, 2
KVM_GET_API_VERSION, KVM_CREATE_VM = 0xAE00, 0xAE01

INIT = """#!/bin/sh
# PID 1 of the lab's VM, written by lab/vm.py for one command.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/root LANG=C.UTF-8 TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
for dir in /dev/shm /tmp /run; do mount -t tmpfs tmpfs $dir; done
ip link set lo up
hostname lab-vm
cd {project}
echo "{mark} start"
PYTHONPATH={project} {argv} </dev/null
echo "{mark} exit $?"
mkdir -p {collect}
stty -F /dev/ttyS1 raw -echo
tar -C {collect} -czf /dev/ttyS1 .
echo o >/proc/sysrq-trigger
sleep 60
"""


@dataclass(frozen=True)
class VmResult:
    status: int | None          # the command's exit status; None if it never finished
    console: str                # kernel and command output (ttyS0)
    boot_seconds: float | None  # qemu started -> the init starting the command
    command_seconds: float | None
    collected: Path | None      # where the collect directory was extracted; None if it did not come back whole
    accel: str                  # kvm or tcg
    timed_out: bool


# -- cpio ---------------------------------------------------------------------

class Cpio:
    """Write a cpio archive in the "newc" format, the one the kernel unpacks as an initramfs."""

    def __init__(self, out):
        self.out, self.ino = out, 0

    def add(self, name, mode, data=b"", mtime=0, uid=0, gid=0, rdev=(0, 0)):
        self.ino += 1
        name = name.encode() + b"\0"
        fields = (self.ino, mode, uid, gid, 1, int(mtime), len(data), 0, 0, *rdev, len(name), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields) + name
        self.out.write(header + b"\0" * (-len(header) % 4) + data + b"\0" * (-len(data) % 4))

    def add_tree(self, directory, under, keep=lambda path: True):
        """Add `directory` as `under` (no leading /); parents of `under` must already exist."""
        for path in sorted([directory, *directory.rglob("*")]):
            if not keep(path):
                continue
            st, rel = path.lstat(), path.relative_to(directory)
            name = under if rel == Path(".") else f"{under}/{rel.as_posix()}"
            data = (os.readlink(path).encode() if path.is_symlink()
                    else path.read_bytes() if stat.S_ISREG(st.st_mode) else b"")
            self.add(name, st.st_mode, data, st.st_mtime)

    def add_tar(self, tar):
        """Add every member of a tar (mmdebstrap's output) with its owner, mode and device numbers."""
        for m in tar:
            name = m.name.removeprefix("./").rstrip("/")
            if not name:
                continue
            kind, data = stat.S_IFREG, b""
            if m.isdir():
                kind = stat.S_IFDIR
            elif m.issym():
                kind, data = stat.S_IFLNK, m.linkname.encode()
            elif m.ischr() or m.isblk():
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            elif m.isfifo():
                kind = stat.S_IFIFO
            else:  # regular file or hard link: the link's data is its target's
                data = tar.extractfile(m).read()
            self.add(name, kind | m.mode, data, m.mtime, m.uid, m.gid, (m.devmajor, m.devminor))

    def close(self):
        self.add("TRAILER!!!", 0)


def scratch(kind):
    """A temporary directory named with this pid; ones whose process is gone (SIGKILL) are removed first."""
    for old in Path(tempfile.gettempdir()).glob("tcp-fault-lab-*"):
        left = re.match(r"tcp-fault-lab-(?:vm|rootfs)-(\d+)-", old.name)
        if left and not Path(f"/proc/{left.group(1)}").exists():
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"tcp-fault-lab-{kind}-{os.getpid()}-")


def write_atomically(path, fill):
    """Run fill(file) into a temporary file renamed to `path` only when complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            fill(f)
        tmp.rename(path)
    finally:
        tmp.unlink(missing_ok=True)


# -- the base root file system ------------------------------------------------

def guest_requirements():
    """The lab's runtime dependencies (pyproject's, less Docker) and pytest, by name."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in deps]
    return [n for n in names if n not in GUEST_PYTHON_SKIP] + list(GUEST_PYTHON_EXTRA)


def rootfs_path():
    recipe = (IMAGES / "base" / "recipe.yaml").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    key = digest(recipe, lock, *GUEST_PACKAGES, *DPKG_EXCLUDES, *guest_requirements())
    return cache_dir() / "vm" / f"rootfs-{key}.cpio"


def wheel_target(dpkg_status):
    """(python version, pip platforms) for the guest, from its dpkg status: its python3 and glibc.

    pip takes an explicit platform literally, so every manylinux tag the guest's glibc
    accepts is listed, newest first, with the legacy aliases of 2.5, 2.12 and 2.17.
    """
    versions = {s["Package"]: s["Version"] for s in map(parse_stanza, dpkg_status.split("\n\n")) if "Package" in s}
    python = re.match(r"\d+\.\d+", versions["python3"]).group(0)
    minor = int(re.match(r"2\.(\d+)", versions["libc6"]).group(1))
    legacy = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}
    platforms = [name for m in range(minor, 4, -1)
                 for name in (f"manylinux_2_{m}", legacy.get(m)) if name]
    return python, [f"{p}_x86_64" for p in platforms]


def parse_stanza(text):
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line and not line[0].isspace())


def build_rootfs(path, say):
    if not shutil.which("mmdebstrap"):
        raise SetupError("mmdebstrap is missing: install it with `apt-get install mmdebstrap`")
    recipe = yaml.safe_load((IMAGES / "base" / "recipe.yaml").read_text())
    say("building the VM root file system with mmdebstrap and pip (about a minute, once)")
    with scratch("rootfs") as tmp:
        tar_path, site = Path(tmp) / "rootfs.tar", Path(tmp) / "site"
        # The merged-usr hook makes /bin, /lib... symlinks itself; without it bookworm pulls usrmerge and perl.
        hook = [f"--hook-dir={MERGED_USR_HOOK}"] if MERGED_USR_HOOK.is_dir() else []
        argv = ["mmdebstrap", "--quiet", f"--variant={recipe['variant']}", *hook,
                "--include=" + ",".join([*recipe["packages"], *GUEST_PACKAGES]),
                *(f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES),
                recipe["suite"], str(tar_path), *apt_mirrors(recipe["suite"])]
        done = run_to_end(argv)
        if done.returncode != 0:
            raise SetupError(f"mmdebstrap failed: {done.stderr.strip().splitlines()[-1:]}")
        with tarfile.open(tar_path) as tar:
            python, platforms = wheel_target(tar.extractfile("./var/lib/dpkg/status").read().decode())
            pip = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
                   "--disable-pip-version-check", "--target", str(site), "--only-binary=:all:",
                   "--python-version", python, *(x for p in platforms for x in ("--platform", p)),
                   "-c", str(ROOT / "requirements.lock"), *guest_requirements()]
            done = run_to_end(pip)
            if done.returncode != 0:
                raise SetupError(f"pip could not install the guest's Python packages: "
                                 f"{done.stderr.strip().splitlines()[-1:]}")
            packages = f"usr/local/lib/python{python}/dist-packages"

            def fill(f):
                cpio = Cpio(f)
                cpio.add_tar(tar)
                for i in range(2, len(packages.split("/"))):
                    cpio.add("/".join(packages.split("/")[:i]), stat.S_IFDIR | 0o755)
                cpio.add_tree(site, packages)
                cpio.close()
            write_atomically(path, fill)


def ensure_rootfs(say):
    path = rootfs_path()
    with locked(path.with_suffix(".lock")):
        if not path.is_file():
            build_rootfs(path, say)
    return path


# -- a kernel's modules -------------------------------------------------------

def shipped_modules(modules_dep, prefixes=MODULES):
    """Modules whose path starts with one of `prefixes` and all they depend on, from modules.dep's text."""
    deps = {}
    for line in modules_dep.splitlines():
        if ":" in line:
            module, needs = line.split(":", 1)
            deps[module] = needs.split()
    todo = [m for m in deps if m.startswith(prefixes)]
    chosen = set()
    while todo:
        module = todo.pop()
        if module not in chosen:
            chosen.add(module)
            todo += deps.get(module, [])
    return sorted(chosen)


def ensure_modules(kernel, say):
    """The kernel's modules as a cpio under usr/lib/modules (/lib is a symlink in the base: keep it)."""
    path = cache_dir() / "vm" / f"modules-{kernel.name}_{kernel.version}.cpio"
    with locked(path.with_suffix(".lock")):
        if path.is_file():
            return path
        say(f"packing the modules of {kernel.release}")
        under = f"usr/lib/modules/{kernel.release}"
        files = shipped_modules((kernel.modules / "modules.dep").read_text())
        files += [p.name for p in kernel.modules.glob("modules.*")]
        dirs = sorted({p.as_posix() for f in files for p in Path(f).parents if p != Path(".")})

        def fill(f):
            cpio = Cpio(f)
            for d in ["usr/lib/modules", under, *(f"{under}/{d}" for d in dirs)]:
                cpio.add(d, stat.S_IFDIR | 0o755)
            for name in files:
                cpio.add(f"{under}/{name}", stat.S_IFREG | 0o644, (kernel.modules / name).read_bytes())
            cpio.close()
        write_atomically(path, fill)
    return path


# -- one call -----------------------------------------------------------------

def call_archive(out, argv, collect, mark):
    """The project and an /init running `argv`, as an uncompressed cpio."""
    cpio = Cpio(out)
    init = INIT.format(project=PROJECT, argv=shlex.join(argv), collect=shlex.quote(collect), mark=mark)
    cpio.add("init", stat.S_IFREG | 0o755, init.encode())
    cpio.add(PROJECT.strip("/"), stat.S_IFDIR | 0o755)
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_dir():
            cpio.add_tree(path, f"{PROJECT.strip('/')}/{name}", keep=lambda p: "__pycache__" not in p.parts)
        else:
            cpio.add(f"{PROJECT.strip('/')}/{name}", stat.S_IFREG | 0o644, path.read_bytes(), path.stat().st_mtime)
    cpio.close()


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


def run(kernel, argv, collect=f"{PROJECT}/runs", dest=None, timeout=600.0, say=lambda msg: None):
    """Boot `kernel` with the lab inside, run `argv` in /opt/tcp-fault-lab, bring `collect` back into `dest`.

    `dest` defaults to a new directory under runs/. qemu is killed at `timeout`
    seconds, and on every way out of this function, Ctrl-C included.
    """
    if not shutil.which("qemu-system-x86_64"):
        raise SetupError("qemu is missing: install it with `apt-get install qemu-system-x86`")
    base, modules = ensure_rootfs(say), ensure_modules(kernel, say)
    accel, mark = accelerator(), f"lab-vm-{secrets.token_hex(4)}"
    dest = Path(dest or ROOT / "runs" / f"vm-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{kernel.release}")
    with scratch("vm") as tmp:
        initrd, results, errors = Path(tmp) / "initrd", Path(tmp) / "results", Path(tmp) / "qemu.err"
        with open(initrd, "wb") as out:
            for part in (base, modules):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            call_archive(out, argv, collect, mark)
        say(f"booting {kernel.release} under {accel.upper()}")
        started = time.monotonic()
        with open(errors, "wb") as stderr:
            qemu = subprocess.Popen(qemu_argv(kernel, initrd, results, accel), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=stderr,
                                    start_new_session=True, preexec_fn=die_with_parent)
        try:
            console, marks = watch(qemu, started + timeout, mark)
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


def watch(qemu, deadline, mark):
    """Read the console until qemu exits or the deadline; note when the markers went by.

    Returns the console text and {"start": (t, None), "exit": (t, status)}.
    """
    pattern = re.compile(rf"^{mark} (start|exit)(?: (\d+))?\r?$".encode(), re.M)
    buf, seen, marks = bytearray(), 0, {}
    with selectors.DefaultSelector() as sel:
        sel.register(qemu.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(min(left, 1.0)):
                continue
            chunk = os.read(qemu.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            end = buf.rfind(b"\n") + 1
            for m in pattern.finditer(buf, seen, end):
                marks[m.group(1).decode()] = (time.monotonic(), int(m.group(2)) if m.group(2) else None)
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
