"""The cache's own rules: scratch space a killed lab left is reclaimed, entries appear whole."""

import os
import subprocess

import pytest

from lab import cache


def test_scratch_reclaims_only_the_directories_of_dead_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(cache.tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"tcp-fault-lab-rootfs-{dead.pid}-abc"
    alive = tmp_path / f"tcp-fault-lab-vm-{os.getppid()}-abc"
    other = tmp_path / "tcp-fault-lab-fence-123"
    for d in (left, alive, other):
        d.mkdir()
    with cache.scratch("vm") as mine:
        assert mine.startswith(str(tmp_path / f"tcp-fault-lab-vm-{os.getpid()}-"))
        assert not left.exists() and alive.is_dir() and other.is_dir()


def test_an_entry_appears_only_when_written_whole(tmp_path):
    entry = tmp_path / "entry.cpio"

    def fill(f):
        f.write(b"half")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        cache.write_atomically(entry, fill)
    assert list(tmp_path.iterdir()) == []
    cache.write_atomically(entry, lambda f: f.write(b"whole"))
    assert entry.read_bytes() == b"whole"


def test_digest_delimits_its_parts():
    assert cache.digest("ab", "c") != cache.digest("a", "bc")
    assert cache.digest("ab", "c") == cache.digest(b"ab", b"c")
