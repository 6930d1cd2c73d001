"""Kernels by version: no network, no qemu, no apt."""

import subprocess
import sys

import pytest

from lab import debian, kernels
from lab.errors import SetupError

# `apt-cache show` of a few builds, shaped as Debian ships them: 6.1 in bookworm and as
# an LTS backport in bullseye-security (~deb11u1), and a 7.x meta package over its parts.
SHOW = {
    "bullseye": """\
Package: linux-image-5.10.0-46-cloud-amd64
Version: 5.10.262-1
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Description: Linux 5.10 for x86-64 cloud (signed)
 continuation line: ignored

Package: linux-image-5.10.0-45-cloud-amd64
Version: 5.10.260-1

Package: linux-image-6.1.0-0.deb11.52-cloud-amd64
Version: 6.1.192-1~deb11u1
""",
    "bookworm": """\
Package: linux-image-6.1.0-56-cloud-amd64
Version: 6.1.192-2

Package: linux-image-6.1.0-56-cloud-amd64
Version: 6.1.192-1

Package: linux-image-cloud-amd64
Version: 6.1.192-2
""",
    "sid": """\
Package: linux-image-7.2.13+deb14-cloud-amd64
Version: 7.2.13-1
Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, \
linux-base-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), \
linux-modules-7.2.13+deb14-cloud-amd64 (= 7.2.13-1)

Package: linux-image-7.2.13+deb14-cloud-amd64-unsigned
Version: 7.2.13-1
""",
}
PACKAGES = [p for suite, text in SHOW.items() for p in kernels.packages_of(suite, debian.paragraphs(text))]


def test_packages_of_reads_release_upstream_and_parts():
    sid = [p for p in PACKAGES if p.suite == "sid"]
    assert [(p.release, p.upstream, p.series) for p in sid] == [("7.2.13+deb14-cloud-amd64", "7.2.13", "7.2")]
    assert sid[0].parts == ("linux-image-7.2.13+deb14-cloud-amd64", "linux-base-7.2.13+deb14-cloud-amd64",
                            "linux-binary-7.2.13+deb14-cloud-amd64", "linux-modules-7.2.13+deb14-cloud-amd64")
    old = next(p for p in PACKAGES if p.release == "5.10.0-46-cloud-amd64")
    assert old.parts == ("linux-image-5.10.0-46-cloud-amd64",)  # kmod, linux-base: not this kernel's


def test_meta_and_unsigned_packages_are_not_kernels():
    assert not any(p.name in ("linux-image-cloud-amd64", "linux-image-7.2.13+deb14-cloud-amd64-unsigned")
                   for p in PACKAGES)


@pytest.mark.parametrize("request_, release, version", [
    ("6.1", "6.1.0-56-cloud-amd64", "6.1.192-2"),   # bookworm's beats the bullseye backport and -1
    ("5.10", "5.10.0-46-cloud-amd64", "5.10.262-1"),
    ("7.2", "7.2.13+deb14-cloud-amd64", "7.2.13-1"),
    ("5.10.260", "5.10.0-45-cloud-amd64", "5.10.260-1"),
    ("5.10.0-45-cloud-amd64", "5.10.0-45-cloud-amd64", "5.10.260-1"),
    ("6.1.0-0.deb11.52", "6.1.0-0.deb11.52-cloud-amd64", "6.1.192-1~deb11u1"),
    (" 6.1 ", "6.1.0-56-cloud-amd64", "6.1.192-2"),
])
def test_choose_picks_the_newest_match(request_, release, version):
    chosen = kernels.choose(PACKAGES, request_)
    assert (chosen.release, chosen.version) == (release, version)


def test_a_version_not_served_names_those_that_are():
    with pytest.raises(SetupError) as err:
        kernels.choose(PACKAGES, "4.19")
    assert str(err.value) == (
        "Debian serves no cloud-amd64 kernel '4.19'; available: 5.10 (5.10.262, bullseye), "
        "6.1 (6.1.192, bullseye), 6.1 (6.1.192, bookworm), 7.2 (7.2.13, sid)")
    assert "\n" not in str(err.value)


def test_newest_by_series_keeps_one_per_suite_and_series():
    assert [(p.suite, p.series, p.version) for p in kernels.newest_by_series(PACKAGES)] == [
        ("bullseye", "5.10", "5.10.262-1"), ("bullseye", "6.1", "6.1.192-1~deb11u1"),
        ("bookworm", "6.1", "6.1.192-2"), ("sid", "7.2", "7.2.13-1")]


def test_has_module_reads_dep_and_builtin(tmp_path):
    (tmp_path / "modules.dep").write_text(
        "kernel/net/sched/sch_netem.ko.xz:\nkernel/net/bridge/bridge.ko: kernel/net/802/stp.ko\n")
    (tmp_path / "modules.builtin").write_text("kernel/drivers/net/veth.ko\n")
    assert [kernels.has_module(tmp_path, m) for m in ("sch_netem", "bridge", "veth", "nf_tables")] == \
        [True, True, True, False]


@pytest.mark.parametrize("modules, docker", [("lab.kernels, lab.vm, lab.matrix", False), ("lab.images", True)])
def test_fetching_and_booting_a_kernel_import_no_docker_sdk(modules, docker):
    code = f"import sys, {modules}; print(any(m.split('.')[0] == 'docker' for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(docker)
