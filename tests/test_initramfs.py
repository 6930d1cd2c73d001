"""The VM's initramfs, its pure parts: cpio entries, chosen modules, the guest's wheels, the /init."""

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lab import initramfs, runtimes
from lab.errors import SetupError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_modules_follow_dependencies_out_of_the_chosen_directories():
    dep = ("kernel/net/netfilter/nft_counter.ko: kernel/net/netfilter/nf_tables.ko kernel/lib/libcrc32c.ko\n"
           "kernel/net/netfilter/nf_tables.ko: kernel/lib/libcrc32c.ko\n"
           "kernel/lib/libcrc32c.ko:\n"
           "kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\n"
           "kernel/drivers/net/veth.ko:\n"
           "kernel/drivers/net/ethernet/intel/e1000/e1000.ko:\n")
    assert initramfs.shipped_modules(dep, prefixes=("kernel/net/", "kernel/drivers/net/veth.")) == [
        "kernel/drivers/net/veth.ko", "kernel/lib/libcrc32c.ko",
        "kernel/net/netfilter/nf_tables.ko", "kernel/net/netfilter/nft_counter.ko"]


def test_wheel_target_lists_every_manylinux_tag_the_guest_glibc_takes():
    status = ("Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u13\n\n"
              "Package: python3\nVersion: 3.11.2-1+b1\nDescription: x\n more: text\n")
    python, platforms = initramfs.wheel_target(status)
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
    cpio = initramfs.Cpio(out)
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
    initramfs.call_archive(out, ["sh", "-c", "echo 'a b'; exit 3"], "/opt/tcp-fault-lab/runs", "mark")
    entries = {name: body for name, _, body in read_cpio(out.getvalue())}
    init = entries["init"].decode()
    assert """PYTHONPATH=/opt/tcp-fault-lab sh -c 'echo '"'"'a b'"'"'; exit 3' </dev/null""" in init
    assert 'echo "mark exit $?"' in init
    assert {"opt/tcp-fault-lab/lab/initramfs.py", "opt/tcp-fault-lab/scenarios/crash-reset.yaml",
            "opt/tcp-fault-lab/pyproject.toml", "opt/tcp-fault-lab/compose.yaml"} <= set(entries)
    assert not any("__pycache__" in name for name in entries)


def test_call_archive_puts_the_built_agents_in_the_guests_cache_and_says_it_is_a_vm(tmp_path):
    agent = tmp_path / "c-0123456789ab"
    agent.mkdir()
    (agent / "agent").write_bytes(b"\x7fELF")
    agent.joinpath("agent").chmod(0o755)
    out = io.BytesIO()
    initramfs.call_archive(out, ["true"], "/opt/tcp-fault-lab/runs", "mark", agents=[agent])
    entries = {name: (mode, body) for name, mode, body in read_cpio(out.getvalue())}
    assert entries["opt/tcp-fault-lab/.cache/agents/c-0123456789ab/agent"] == (stat.S_IFREG | 0o755, b"\x7fELF")
    assert stat.S_ISDIR(entries["opt/tcp-fault-lab/.cache/agents"][0])
    assert f"{runtimes.IN_VM}=1" in entries["init"][1].decode()


def test_in_a_vm_a_missing_agent_is_named_never_built_nor_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE", str(tmp_path))
    monkeypatch.setenv(runtimes.IN_VM, "1")
    with pytest.raises(SetupError, match="the c agent was not put in this kernel VM"):
        runtimes.build("c")
    with pytest.raises(SetupError, match="the java-socket runtime cannot run in a kernel VM: .* default-jre-headless"):
        runtimes.build("java-socket")
    assert (runtimes.build("python") / "sockops.py").is_file()  # python's agent is its source: copied there


@pytest.mark.docker  # the netns backend: root
def test_in_a_kernel_vm_a_scenario_of_a_runtime_it_lacks_is_skipped_naming_it(tmp_path):
    """The whole catalogue in a guest: seed-java-nio's hosts ask for java-nio, which no VM has."""
    env = dict(os.environ, LAB_IN_VM="1", LAB_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           str(ROOT / "scenarios" / "seed-java-nio.yaml"), "--lab-backend", "netns",
                           "--lab-out", str(tmp_path / "runs")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "1 skipped" in done.stdout, done.stdout[-2000:]
    assert "the java-nio runtime cannot run in a kernel VM" in done.stdout
