"""Debian's kernels by version, fetched from this machine's Debian mirror.

The lab runs its catalogue on other kernels by booting Debian's own builds in
qemu (see `lab.vm`). A user names a kernel the way they think of it: "5.10",
"6.1", "6.12", "7.2" (the newest Debian build of that upstream series), an
upstream version ("6.1.158") or an exact release ("6.1.0-41-cloud-amd64").
Only the `cloud-amd64` flavour is used: it is small and has netfilter, bridge,
veth and the qdiscs as modules.

The mirror is the one this machine's apt sources name for its own release
(they list no other suite; the same archive serves them all), plus its security
archive for the newest point releases; `LAB_DEBIAN_MIRROR` replaces both with
one URI. Each suite gets a private apt state under the cache, so the host's apt
is never touched (`lab.debian` reads the sources and runs apt).

Lists are refreshed at most once a day: "6.1" means the newest 6.1 Debian
serves, and the security suites replace their point release every few weeks
and drop the old .debs from the pool, so an older list both answers stale and
may name files that are gone. Within the day a warm call reads the listing it
saved and the unpacked kernel, and fetches nothing; when a refresh fails
(offline) the saved listing is used and the user told so.

Cache: `$LAB_CACHE` (default `<project>/.cache`), `kernels/<package>_<version>/`,
one directory per exact Debian package version, complete or absent.
"""

import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lab import programs
from lab.cache import cache_dir, locked
from lab.debian import Apt, Version
from lab.errors import SetupError

SUITES = ("bullseye", "bookworm", "trixie", "sid")
FLAVOUR = "cloud-amd64"
LISTS_MAX_AGE = 24 * 3600  # seconds
# What the catalogue's faults need, built in or as modules; a kernel without one is refused at fetch.
NEEDED_MODULES = ("sch_netem", "veth", "bridge", "nf_tables", "ip_tables")


@dataclass(frozen=True)
class Package:
    """One `linux-image-<release>` build a suite serves (nothing downloaded yet)."""
    suite: str
    name: str       # linux-image-6.1.0-41-cloud-amd64
    version: str    # Debian package version: 6.1.158-1
    release: str    # what `uname -r` says: 6.1.0-41-cloud-amd64
    upstream: str   # 6.1.158
    parts: tuple    # the packages to download, this one first (from 7.x the image is a meta package)

    @property
    def series(self):
        return ".".join(self.upstream.split(".")[:2])


@dataclass(frozen=True)
class Kernel:
    """A fetched kernel: what qemu boots and the modules the guest loads."""
    suite: str
    name: str
    version: str
    release: str
    upstream: str
    vmlinuz: Path
    modules: Path   # .../lib/modules/<release>, with modules.dep


# -- Debian metadata (pure) ---------------------------------------------------

def packages_of(suite, paragraphs):
    """The `linux-image-<release>-cloud-amd64` builds among apt-cache show's paragraphs."""
    found = []
    for s in paragraphs:
        m = re.fullmatch(rf"linux-image-(\d[^ ]*-{FLAVOUR})", s.get("Package", ""))
        upstream = re.match(r"\d+\.\d+(\.\d+)?", s.get("Version", ""))
        if not (m and upstream):
            continue
        release = m.group(1)
        deps = [alt["name"] for needs in s.relations["depends"] for alt in needs]
        parts = (s["Package"], *(d for d in deps if d.endswith("-" + release)))
        found.append(Package(suite, s["Package"], s["Version"], release, upstream.group(0), parts))
    return found


def newest_by_series(packages):
    """Per suite and upstream series, the newest build: what `lab kernels` would list."""
    best = {}
    for p in sorted(packages, key=lambda p: Version(p.version)):
        best[(p.suite, p.series)] = p
    return sorted(best.values(), key=lambda p: (SUITES.index(p.suite), Version(p.version)))


def choose(packages, request):
    """The newest package matching what a user typed: a series, an upstream version or a release."""
    request = request.strip()
    matching = [p for p in packages
                if request in (p.series, p.upstream, p.release, p.release.removesuffix("-" + FLAVOUR))]
    if not matching:
        offered = ", ".join(f"{p.series} ({p.upstream}, {p.suite})" for p in newest_by_series(packages))
        raise SetupError(f"Debian serves no {FLAVOUR} kernel {request!r}; available: {offered or 'none'}")
    return max(matching, key=lambda p: Version(p.version))


def listing(suite, say):
    """The suite's cloud kernels, from lists at most a day old (older ones when a refresh fails)."""
    apt = Apt(suite, cache_dir() / "kernels" / "apt" / suite)
    saved = apt.root / "kernels.json"

    def read_saved():
        return [Package(**{**p, "parts": tuple(p["parts"])}) for p in json.loads(saved.read_text())]
    if saved.is_file() and time.time() - saved.stat().st_mtime < LISTS_MAX_AGE:
        return read_saved()
    say(f"refreshing the Debian {suite} package lists")
    try:
        apt.update()
    except SetupError as exc:
        if not saved.is_file():
            raise
        say(f"{exc}; using the lists of {time.strftime('%Y-%m-%d', time.localtime(saved.stat().st_mtime))}")
        return read_saved()
    found = packages_of(suite, apt.search(rf"^linux-image-[0-9].*-{FLAVOUR}$"))
    saved.write_text(json.dumps([asdict(p) for p in found], indent=1))
    return found


def available(say=lambda msg: None):
    """Every suite's newest cloud kernel of each upstream series, oldest suite first."""
    with locked(cache_dir() / "kernels" / "fetch.lock"):
        return newest_by_series([p for suite in SUITES for p in listing(suite, say)])


def fetch(request, say=lambda msg: None):
    """Return the newest kernel matching `request`, downloading and unpacking it once."""
    with locked(cache_dir() / "kernels" / "fetch.lock"):
        package = choose([p for suite in SUITES for p in listing(suite, say)], request)
        entry = cache_dir() / "kernels" / f"{package.name}_{package.version}"
        if not entry.is_dir():
            unpack(package, entry, say)
    return kernel_in(package, entry)


def kernel_in(package, entry):
    """The Kernel unpacked in `entry`; from 7.x vmlinuz sits beside the modules, not in /boot."""
    fields = {k: v for k, v in asdict(package).items() if k != "parts"}
    modules = entry / "lib" / "modules" / package.release
    vmlinuz = entry / "boot" / f"vmlinuz-{package.release}"
    return Kernel(**fields, vmlinuz=vmlinuz if vmlinuz.is_file() else modules / "vmlinuz", modules=modules)


def unpack(package, entry, say):
    """Download the package's .debs, unpack them and index the modules, into `entry` atomically."""
    programs.require("depmod", "kmod")
    say(f"fetching {package.name} {package.version} from Debian {package.suite}")
    apt = Apt(package.suite, cache_dir() / "kernels" / "apt" / package.suite)
    with tempfile.TemporaryDirectory(prefix="kernel-", dir=entry.parent) as tmp:
        debs, root = Path(tmp) / "debs", Path(tmp) / "root"
        debs.mkdir()
        apt.download({name: package.version for name in package.parts}, debs)
        for deb in sorted(debs.glob("*.deb")):
            programs.run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
        if not (root / "lib").exists():  # from 7.x the modules are under usr/lib only
            (root / "lib").symlink_to("usr/lib")
        kernel = kernel_in(package, root)
        if not kernel.vmlinuz.is_file() or not kernel.modules.is_dir():
            raise SetupError(f"{package.name} {package.version} holds no vmlinuz or modules: "
                             "report this Debian package layout as a lab bug")
        programs.run(["depmod", "-b", str(root), package.release], f"indexing the modules of {package.release}")
        missing = [m for m in NEEDED_MODULES if not has_module(kernel.modules, m)]
        if missing:
            raise SetupError(f"{package.name} {package.version} lacks modules {', '.join(missing)}; "
                             "pick another kernel version")
        root.rename(entry)


def has_module(modules, name):
    """Whether the kernel has `name` built in or as a module (names use - and _ alike)."""
    want = name.replace("-", "_")
    for index in ("modules.dep", "modules.builtin"):
        path = modules / index
        if path.is_file():
            for line in path.read_text().splitlines():
                stem = Path(line.split(":")[0]).name.split(".ko")[0]
                if stem.replace("-", "_") == want:
                    return True
    return False
