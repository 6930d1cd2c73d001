"""What the lab builds once and keeps: where it lives, how an entry is named, written and shared.

The cache is `$LAB_CACHE` (default `<project>/.cache`). An entry is named by a
digest of its inputs, so a warm run finds every entry and builds nothing, and
a changed input builds a new one. One process at a time builds an entry (the
others wait on its lock, then find it), and an entry appears only complete.
Work in progress goes to a scratch directory named after its process, which
the next lab removes if that process died without cleaning up (SIGKILL).
"""

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent   # the project: its files are the inputs
SCRATCH = "tcp-fault-lab"


def cache_dir():
    return Path(os.environ.get("LAB_CACHE") or ROOT / ".cache")


def digest(*parts):
    """A short hash of `parts` (str or bytes), each one delimited: the name of what they build."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


@contextmanager
def locked(path):
    """One process at a time builds a cache entry; the others wait, then find it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def write_atomically(path, fill):
    """Run fill(file) into a temporary file renamed to `path` only when complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            fill(f)
        tmp.rename(path)
    finally:
        tmp.unlink(missing_ok=True)


def scratch(kind):
    """A temporary directory named with this pid; ones whose process is gone (SIGKILL) are removed first."""
    for old in Path(tempfile.gettempdir()).glob(f"{SCRATCH}-*"):
        left = re.match(rf"{SCRATCH}-[a-z]+-(\d+)-", old.name)
        if left and not Path(f"/proc/{left.group(1)}").exists():
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH}-{kind}-{os.getpid()}-")
