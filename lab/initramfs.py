"""The lab's VM root file system: an initramfs of three concatenated cpio archives.

The guest needs no disk, so no block or file system driver, and each part is
cached on its own (`lab.cache`):

- the base (`rootfs-<hash>.cpio`): the lab's root file system recipe
  (`lab.debian.bootstrap`) plus what a bare init needs, with the lab's Python
  dependencies pip-installed for the guest's Python at the versions in
  `requirements.lock`; the hash covers those inputs;
- the kernel's modules (`modules-<package>_<version>.cpio`): netfilter, bridge,
  qdiscs, virtual links, crypto and lib, with whatever they depend on and the
  depmod indexes, so the guest's kernel loads them on demand;
- per call, small (`call_archive`): this project's `lab/`, `scenarios/`,
  `pyproject.toml` and `compose.yaml` under /opt/tcp-fault-lab, the built
  agents the call needs (c's and go's static binaries, `lab.runtimes`) in
  its cache there, where the guest's `runtimes.build()` finds them, the
  scenario texts the schema has passed already (`lab.scenario.validated`),
  and an /init that runs the command between two markers on the console, then sends the
  collect directory back as a gzipped tar on the second serial port (ttyS1,
  set raw so the tty does not rewrite its bytes) and powers off.

The archives are not compressed: under TCG the kernel unpacks 170 MB of cpio
in about 3 s and gunzips it in 1.5 s more, while copying them costs the host
a tenth of a second.
"""

import os
import re
import shlex
import stat
import tarfile
import tomllib
from pathlib import Path

from lab import debian, programs, runtimes
from lab.cache import ROOT, cache_dir, digest, locked, scratch, write_atomically

PROJECT = "/opt/tcp-fault-lab"   # where the guest finds this project
PROJECT_FILES = ("lab", "scenarios", "pyproject.toml", "compose.yaml")  # what the lab reads at run time
# Besides the base recipe: what the init uses (mount, modprobe for on-demand modules).
GUEST_PACKAGES = ("kmod", "mount")
# Not needed in a guest, and large: docs, manuals, translations.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
                 "/usr/lib/x86_64-linux-gnu/gconv/*")
# pyproject's dependencies the guest does not use (no Docker engine, no apt), and the extras it does.
GUEST_PYTHON_SKIP = ("docker", "python-debian")
GUEST_PYTHON_EXTRA = ("pytest", "pytest-xdist")  # xdist: scenarios side by side (lab.matrix.GUEST_JOBS)
# Modules shipped to the guest, by path prefix, with what they depend on; the rest (file systems,
# NIC drivers, storage protocols, ...) only slows the boot. crypto and lib whole: soft dependencies.
MODULES = tuple(f"kernel/{p}" for p in (
    "net/netfilter/", "net/ipv4/", "net/ipv6/", "net/bridge/", "net/sched/", "net/core/",
    "net/802/", "net/8021q/", "net/llc/", "net/packet/",
    "drivers/net/veth.", "drivers/net/dummy.", "drivers/net/ifb.", "drivers/net/macvlan.",
    "drivers/net/ipvlan/", "drivers/net/vxlan", "drivers/net/tun.",
    "crypto/", "lib/", "arch/x86/crypto/"))

INIT = """#!/bin/sh
# PID 1 of the lab's VM, written by lab/initramfs.py for one command.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/root LANG=C.UTF-8 TERM=dumb {in_vm}=1
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

    def add_dirs(self, *names):
        for name in names:
            self.add(name, stat.S_IFDIR | 0o755)

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


# -- the base root file system ------------------------------------------------

def guest_requirements():
    """The lab's runtime dependencies the guest uses (pyproject's, less GUEST_PYTHON_SKIP) and GUEST_PYTHON_EXTRA, by name."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in deps]
    return [n for n in names if n not in GUEST_PYTHON_SKIP] + list(GUEST_PYTHON_EXTRA)


def rootfs_path():
    lock = (ROOT / "requirements.lock").read_text()
    key = digest(debian.RECIPE.read_text(), lock, *GUEST_PACKAGES, *DPKG_EXCLUDES, *guest_requirements())
    return cache_dir() / "vm" / f"rootfs-{key}.cpio"


def wheel_target(dpkg_status):
    """(python version, pip platforms) for the guest, from its dpkg status: its python3 and glibc.

    pip takes an explicit platform literally, so every manylinux tag the guest's glibc
    accepts is listed, newest first, with the legacy aliases of 2.5, 2.12 and 2.17.
    """
    versions = {p["Package"]: p["Version"] for p in debian.paragraphs(dpkg_status)
                if "Package" in p and "Version" in p}
    python = re.match(r"\d+\.\d+", versions["python3"]).group(0)
    minor = int(re.match(r"2\.(\d+)", versions["libc6"]).group(1))
    legacy = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}
    platforms = [name for m in range(minor, 4, -1)
                 for name in (f"manylinux_2_{m}", legacy.get(m)) if name]
    return python, [f"{p}_x86_64" for p in platforms]


def build_rootfs(path, say):
    say("building the VM root file system with mmdebstrap and pip (about a minute, once)")
    with scratch("rootfs") as tmp:
        tar_path, site = Path(tmp) / "rootfs.tar", Path(tmp) / "site"
        debian.bootstrap(tar_path, include=GUEST_PACKAGES, exclude=DPKG_EXCLUDES, merged_usr=True)
        with tarfile.open(tar_path) as tar:
            python, platforms = wheel_target(tar.extractfile("./var/lib/dpkg/status").read().decode())
            programs.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", "--target", str(site), "--only-binary=:all:",
                          "--python-version", python, *(x for p in platforms for x in ("--platform", p)),
                          "-c", str(ROOT / "requirements.lock"), *guest_requirements()],
                         "pip installing the guest's Python packages")
            packages = f"usr/local/lib/python{python}/dist-packages"

            def fill(f):
                cpio = Cpio(f)
                cpio.add_tar(tar)
                parts = packages.split("/")
                cpio.add_dirs(*("/".join(parts[:i]) for i in range(2, len(parts))))
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
            cpio.add_dirs("usr/lib/modules", under, *(f"{under}/{d}" for d in dirs))
            for name in files:
                cpio.add(f"{under}/{name}", stat.S_IFREG | 0o644, (kernel.modules / name).read_bytes())
            cpio.close()
        write_atomically(path, fill)
    return path


# -- one call -----------------------------------------------------------------

def call_archive(out, argv, collect, mark, agents=()):
    """The project, the built `agents` (folders of the cache's agents/) and an /init running `argv`,
    as an uncompressed cpio."""
    cpio = Cpio(out)
    init = INIT.format(project=PROJECT, argv=shlex.join(argv), collect=shlex.quote(collect), mark=mark,
                       in_vm=runtimes.IN_VM)
    cpio.add("init", stat.S_IFREG | 0o755, init.encode())
    home = PROJECT.strip("/")
    cpio.add_dirs(home)
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_dir():
            cpio.add_tree(path, f"{home}/{name}", keep=lambda p: "__pycache__" not in p.parts)
        else:
            cpio.add(f"{home}/{name}", stat.S_IFREG | 0o644, path.read_bytes(), path.stat().st_mtime)
    cpio.add_dirs(f"{home}/.cache")
    if agents:
        cpio.add_dirs(f"{home}/.cache/agents")
    for agent in agents:
        cpio.add_tree(Path(agent), f"{home}/.cache/agents/{Path(agent).name}")
    if (valid := cache_dir() / "valid").is_dir():  # scenario texts the schema has passed (lab/scenario/validated.py)
        cpio.add_tree(valid, f"{home}/.cache/valid")
    cpio.close()
