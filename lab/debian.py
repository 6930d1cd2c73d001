"""Debian, through this machine's own apt sources: where the archive is, what it serves, root file systems.

- Sources: `apt_mirrors(suite)` reads the mirror from apt's configuration at
  run time (`LAB_DEBIAN_MIRROR` overrides it), so no host name is written here.
- Metadata: `paragraphs` reads deb822 text (apt-cache show, dpkg's status) and
  `Version` orders Debian versions as dpkg does, both from python-debian.
- `Apt`: apt-get and apt-cache on a private state per suite under the cache,
  leaving the host's apt untouched (`lab.kernels` fetches kernels with it).
- `bootstrap`: the lab's root file system (`images/base/recipe.yaml`) made by
  mmdebstrap, the one builder behind the Docker base image (`lab.images`) and
  the VMs' initramfs (`lab.initramfs`).
"""

import os
import re
from pathlib import Path

import yaml
from debian.deb822 import Packages
from debian.debian_support import Version

from lab import programs
from lab.cache import ROOT
from lab.errors import SetupError

__all__ = ["Version", "paragraphs", "apt_mirrors", "archives", "Apt", "recipe", "bootstrap"]

APT_SOURCES = Path("/etc/apt")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
RECIPE = ROOT / "images" / "base" / "recipe.yaml"
# mmdebstrap's hook that makes /bin, /lib... symlinks itself; without it bookworm pulls usrmerge and perl.
MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/merged-usr")
NO_MIRROR = "set LAB_DEBIAN_MIRROR to a Debian mirror URI"


def paragraphs(text):
    """deb822 text as one dict-like paragraph per stanza, continuation lines joined to their field.

    Read as package paragraphs (apt-cache show, dpkg's status), whose `.relations["depends"]`
    parses Depends; an apt .sources file reads the same way.
    """
    return list(Packages.iter_paragraphs(text.splitlines(keepends=True), use_apt_pkg=False))


# -- where the archive is -----------------------------------------------------

def apt_mirrors(suite, apt_dir=APT_SOURCES):
    """Source lines for `suite` (and its -updates/-security) from apt's own config.

    `LAB_DEBIAN_MIRROR` overrides them with one URI.
    """
    if os.environ.get("LAB_DEBIAN_MIRROR"):
        return [f"deb {os.environ['LAB_DEBIAN_MIRROR']} {suite} main"]
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    lines = []
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*"))]:
        if not path.is_file():
            continue
        if path.suffix == ".sources":   # deb822
            for source in paragraphs(path.read_text()):
                if "deb" in source.get("Types", "").split():
                    lines += [f"deb {uri} {s} main" for s in source.get("Suites", "").split() if s in wanted
                              for uri in source.get("URIs", "").split()]
        else:                           # one line per source
            for line in path.read_text().splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) >= 3 and words[0] == "deb" and not words[1].startswith("[") and words[2] in wanted:
                    lines.append(f"deb {words[1]} {words[2]} main")
    if not lines:
        raise SetupError(f"no apt source for Debian {suite} on this machine; {NO_MIRROR}")
    return lines


def archives():
    """(main URI, security URI or None) of this machine's Debian mirror, from its apt sources.

    The sources name only the host's own suite; the same archive serves the others.
    """
    codename = re.search(r"^VERSION_CODENAME=(\S+)", Path("/etc/os-release").read_text(), re.M)
    if not codename:
        raise SetupError(f"/etc/os-release names no Debian release; {NO_MIRROR}")
    main = security = None
    for line in apt_mirrors(codename.group(1)):
        _, uri, suite, _ = line.split()
        if suite.endswith("-security"):
            security = security or uri
        else:
            main = main or uri
    if not main:
        raise SetupError(f"the apt sources name no main Debian archive; {NO_MIRROR}")
    return main, security


# -- apt, privately -----------------------------------------------------------

class Apt:
    """apt-get and apt-cache on a private state for one suite (and its -security) in `root`."""

    def __init__(self, suite, root):
        self.suite, self.root = suite, root
        self.options = [
            "-o", f"Dir::Etc::sourcelist={root / 'sources.list'}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={root / 'lists'}", "-o", f"Dir::Cache={root / 'cache'}",
            "-o", f"Dir::State::status={root / 'status'}",
            "-o", "APT::Architecture=amd64", "-o", "APT::Architectures=amd64",
            "-o", "Acquire::Languages=none",
            *(x for t in ("DEP-11", "DEP-11-icons", "DEP-11-icons-small", "DEP-11-icons-hidpi")
              for x in ("-o", f"Acquire::IndexTargets::deb::{t}::DefaultEnabled=false")),
        ]

    def setup(self):
        if not KEYRING.is_file():
            raise SetupError(f"{KEYRING} is missing: install it with `apt-get install debian-archive-keyring`")
        main, security = archives()
        lines = [f"deb [signed-by={KEYRING}] {main} {self.suite} main"]
        if security and self.suite != "sid":
            lines.append(f"deb [signed-by={KEYRING}] {security} {self.suite}-security main")
        for d in ("lists/partial", "cache/archives/partial"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        (self.root / "sources.list").write_text("\n".join(lines) + "\n")

    def run(self, tool, action, *args, options=(), cwd=None, hint=""):
        return programs.run([tool, "-q", *self.options, *options, action, *args],
                            f"{tool} {action} for {self.suite}", hint=hint, cwd=cwd)

    def update(self):
        self.setup()
        self.run("apt-get", "update", "--error-on=any",
                 hint="; check that the mirror is reachable, or set LAB_DEBIAN_MIRROR to another")

    def search(self, pattern):
        """Paragraphs (apt-cache show) of every package whose name matches the regular expression."""
        found = self.run("apt-cache", "--names-only", "search", pattern)
        names = [line.split(" - ")[0] for line in found.splitlines() if line.strip()]
        return paragraphs(self.run("apt-cache", "show", *names)) if names else []

    def download(self, versions, into):
        """Download the .debs of {package: version} into the directory `into`."""
        # as root apt downloads as _apt, who cannot write into our private temporary directory
        self.run("apt-get", "download", *(f"{n}={v}" for n, v in versions.items()),
                 options=("-o", "APT::Sandbox::User=root"), cwd=into)


# -- root file systems --------------------------------------------------------

def recipe():
    """The lab's root file system recipe: suite, variant and packages."""
    return yaml.safe_load(RECIPE.read_text())


def bootstrap(tar, include=(), exclude=(), merged_usr=False):
    """Build the recipe's root file system, plus the packages `include`, into the tarball `tar`.

    `exclude`: dpkg path patterns left out; `merged_usr`: make the /usr merge
    with mmdebstrap's hook where this mmdebstrap has it.
    """
    programs.require("mmdebstrap", "mmdebstrap")
    wanted = recipe()
    hook = [f"--hook-dir={MERGED_USR_HOOK}"] if merged_usr and MERGED_USR_HOOK.is_dir() else []
    programs.run(["mmdebstrap", "--quiet", f"--variant={wanted['variant']}", *hook,
                  "--include=" + ",".join([*wanted["packages"], *include]),
                  *(f"--dpkgopt=path-exclude={p}" for p in exclude),
                  wanted["suite"], str(tar), *apt_mirrors(wanted["suite"])])
