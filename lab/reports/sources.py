"""Where `lab compare`'s records come from: result.json files, folders of runs, and archives of
them (.tar.gz, .tgz, .tar, .zip, as CI artifacts arrive; an archive inside an archive or a
folder too), read in place, nothing unpacked to disk.

The same run may come more than once (an artifact unpacked and also given as its
archive, or two shards' folders overlapping); `identity` is what tells: a run's
run_id with its cell (lab/cell.py), the same wherever its file was found. Two
runs of one cell (a repeat, or two shards that both ran it) are two runs.
"""

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

from lab.errors import ScenarioError

ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")
RESULT = "result.json"


def is_archive(name):
    return str(name).endswith(ARCHIVES)


def result_files(paths):
    """(where, bytes) of every result.json under `paths`; `where` is the file's path, inside an
    archive the archive's path joined with the member's name."""
    for path in map(Path, paths):
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.name == RESULT and found.is_file():
                    yield found, read(found)
                elif is_archive(found.name) and found.is_file():
                    yield from archived(found)
        elif is_archive(path.name):
            yield from archived(path)
        else:
            yield path, read(path)


def read(path):
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: not a result file ({exc})") from None


def archived(where, data=None):
    """(where/member, bytes) of each result.json in the archive at `where` (its bytes: `data`)."""
    try:
        for name, content in members(where, data):
            if is_archive(name):
                yield from archived(Path(where) / name, content)
            else:
                yield Path(where) / name, content
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ScenarioError(f"{where}: not a readable archive ({exc})") from None


def members(where, data=None):
    """(name, bytes) of the result.json files and archives in one archive, one at a time."""
    source = io.BytesIO(data) if data is not None else where
    if str(where).endswith(".zip"):
        with zipfile.ZipFile(source) as archive:
            for member in archive.infolist():
                if wanted(member.filename):
                    yield member.filename, archive.read(member)
    else:
        with tarfile.open(fileobj=source) if data is not None else tarfile.open(source) as archive:
            for member in archive:
                if member.isfile() and wanted(member.name):
                    yield member.name, archive.extractfile(member).read()


def wanted(name):
    return Path(name).name == RESULT or is_archive(name)


def identity(record, data):
    """What makes a run this run: its run_id and cell; a record from before run ids, its bytes."""
    if record.run_id:
        return record.run_id, record.cell.key if record.cell else record.name
    return hashlib.sha256(data).hexdigest()
