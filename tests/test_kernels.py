"""Kernels by version, and the VM's pure parts: no network, no qemu, no apt."""

import io
import stat

import pytest

from lab import kernels, vm
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
PACKAGES = [p for suite, text in SHOW.items() for p in kernels.packages_of(suite, text)]


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


@pytest.mark.parametrize("lower, higher", [
    ("6.1.192-1~deb11u1", "6.1.192-1"),
    ("6.1.192-1", "6.1.192-2"),
    ("6.1.9-1", "6.1.10-1"),
    ("1.0~rc1", "1.0"),
    ("1.0", "1.0.1"),
    ("1.0", "1:0.1"),
    ("2.36-9+deb12u13", "2.36-9+deb12u14"),
])
def test_version_key_orders_like_dpkg(lower, higher):
    assert kernels.version_key(lower) < kernels.version_key(higher)


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


def test_lab_debian_mirror_overrides_the_apt_sources(monkeypatch):
    monkeypatch.setenv("LAB_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert kernels.archives() == ("http://mirror.invalid/debian", None)


def test_has_module_reads_dep_and_builtin(tmp_path):
    (tmp_path / "modules.dep").write_text(
        "kernel/net/sched/sch_netem.ko.xz:\nkernel/net/bridge/bridge.ko: kernel/net/802/stp.ko\n")
    (tmp_path / "modules.builtin").write_text("kernel/drivers/net/veth.ko\n")
    assert [kernels.has_module(tmp_path, m) for m in ("sch_netem", "bridge", "veth", "nf_tables")] == \
        [True, True, True, False]


# -- the VM's pure parts ------------------------------------------------------

def test_shipped_modules_follow_dependencies_out_of_the_chosen_directories():
    dep = ("kernel/net/netfilter/nft_counter.ko: kernel/net/netfilter/nf_tables.ko kernel/lib/libcrc32c.ko\n"
           "kernel/net/netfilter/nf_tables.ko: kernel/lib/libcrc32c.ko\n"
           "kernel/lib/libcrc32c.ko:\n"
           "kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\n"
           "kernel/drivers/net/veth.ko:\n"
           "kernel/drivers/net/ethernet/intel/e1000/e1000.ko:\n")
    assert vm.shipped_modules(dep, prefixes=("kernel/net/", "kernel/drivers/net/veth.")) == [
        "kernel/drivers/net/veth.ko", "kernel/lib/libcrc32c.ko",
        "kernel/net/netfilter/nf_tables.ko", "kernel/net/netfilter/nft_counter.ko"]


def test_wheel_target_lists_every_manylinux_tag_the_guest_glibc_takes():
    status = ("Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u13\n\n"
              "Package: python3\nVersion: 3.11.2-1+b1\nDescription: x\n more: text\n")
    python, platforms = vm.wheel_target(status)
    assert python == "3.11"
    assert platforms[0] == "manylinux_2_36_x86_64" and platforms[-1] == "manylinux1_x86_64"
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux2010_x86_64"} <= set(platforms)


def read_cpio(data):
    """(name, mode, body) of each entry of a newc archive, trailer excluded."""
    entries, pos = [], 0
    while True:
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        assert data[pos:pos + 6] == b"070701"
        name_end = pos + 110 + fields[11]
        name = data[pos + 110:name_end - 1].decode()
        body_start = name_end + (-name_end % 4)
        body = data[body_start:body_start + fields[6]]
        pos = body_start + fields[6] + (-(body_start + fields[6]) % 4)
        if name == "TRAILER!!!":
            return entries
        entries.append((name, fields[1], body))


def test_cpio_is_newc_with_aligned_entries():
    out = io.BytesIO()
    cpio = vm.Cpio(out)
    cpio.add("init", stat.S_IFREG | 0o755, b"#!/bin/sh\n")
    cpio.add("lib", stat.S_IFLNK | 0o777, b"usr/lib")
    cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    cpio.close()
    assert len(out.getvalue()) % 4 == 0
    assert read_cpio(out.getvalue()) == [
        ("init", stat.S_IFREG | 0o755, b"#!/bin/sh\n"),
        ("lib", stat.S_IFLNK | 0o777, b"usr/lib"),
        ("dev/console", stat.S_IFCHR | 0o600, b"")]


def test_call_archive_runs_the_command_quoted_and_ships_the_project():
    out = io.BytesIO()
    vm.call_archive(out, ["sh", "-c", "echo 'a b'; exit 3"], "/opt/tcp-fault-lab/runs", "mark")
    entries = {name: body for name, _, body in read_cpio(out.getvalue())}
    init = entries["init"].decode()
    assert """PYTHONPATH=/opt/tcp-fault-lab sh -c 'echo '"'"'a b'"'"'; exit 3' </dev/null""" in init
    assert 'echo "mark exit $?"' in init
    assert {"opt/tcp-fault-lab/lab/vm.py", "opt/tcp-fault-lab/scenarios/crash-reset.yaml",
            "opt/tcp-fault-lab/pyproject.toml", "opt/tcp-fault-lab/compose.yaml"} <= set(entries)
    assert not any("__pycache__" in name for name in entries)
