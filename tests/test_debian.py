"""Debian's side of the tooling without a network: apt sources, deb822, the mmdebstrap call, programs' failures."""

import signal
import subprocess

import pytest

from lab import debian, programs
from lab.errors import SetupError

SOURCES = """\
Types: deb
# a snapshot, commented out
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.invalid/debian
Suites: bookworm

Types: deb
URIs: http://security.invalid/debian-security
Suites: bookworm-security
Components: main
"""
ONE_LINE = """\
# deb http://commented.invalid/debian bookworm main
deb http://old.invalid/debian bookworm main contrib  # a comment
deb [arch=amd64] http://options.invalid/debian bookworm main
deb http://old.invalid/debian trixie main
"""


@pytest.fixture
def apt_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(SOURCES)
    (tmp_path / "sources.list").write_text(ONE_LINE)
    return tmp_path


def test_apt_mirrors_read_both_formats_and_only_the_suite_asked_for(apt_dir):
    assert debian.apt_mirrors("bookworm", apt_dir) == [
        "deb http://old.invalid/debian bookworm main",
        "deb http://mirror.invalid/debian bookworm main",
        "deb http://mirror.invalid/debian bookworm-updates main",
        "deb http://security.invalid/debian-security bookworm-security main"]


def test_no_source_for_a_suite_says_what_to_set(apt_dir):
    with pytest.raises(SetupError, match="no apt source for Debian sid on this machine; set LAB_DEBIAN_MIRROR"):
        debian.apt_mirrors("sid", apt_dir)


def test_lab_debian_mirror_overrides_the_apt_sources(apt_dir, monkeypatch):
    monkeypatch.setenv("LAB_DEBIAN_MIRROR", "http://override.invalid/debian")
    assert debian.apt_mirrors("trixie", apt_dir) == ["deb http://override.invalid/debian trixie main"]
    assert debian.archives() == ("http://override.invalid/debian", None)


def test_paragraphs_join_continuation_lines_and_parse_relations():
    [first, second] = debian.paragraphs("Package: a\nVersion: 1:2.0-1\nDepends: b (>= 1),\n c | d\n"
                                        "Description: x\n more\n\nPackage: e\nVersion: 1\n")
    assert first["Description"] == "x\n more" and second["Package"] == "e"
    assert [[alt["name"] for alt in needs] for needs in first.relations["depends"]] == [["b"], ["c", "d"]]
    assert debian.Version(first["Version"]) > debian.Version("2.0-1")


@pytest.mark.parametrize("kwargs, options", [
    ({}, ["--include=python3,tcpdump"]),  # the Docker base image: the recipe as it is
    ({"include": ("kmod",), "exclude": ("/usr/share/doc/*",), "merged_usr": True},  # the VM's
     ["--hook-dir=HOOK", "--include=python3,tcpdump,kmod", "--dpkgopt=path-exclude=/usr/share/doc/*"]),
])
def test_bootstrap_builds_the_recipe_with_the_callers_additions(kwargs, options, monkeypatch, tmp_path):
    recipe, hook = tmp_path / "recipe.yaml", tmp_path / "hook"
    recipe.write_text("suite: bookworm\nvariant: essential\npackages: [python3, tcpdump]\n")
    hook.mkdir()
    calls = []
    monkeypatch.setattr(debian, "RECIPE", recipe)
    monkeypatch.setattr(debian, "MERGED_USR_HOOK", hook)
    monkeypatch.setattr(programs, "require", lambda program, package: calls.append([program]))
    monkeypatch.setattr(programs, "run", lambda argv, *a, **k: calls.append(argv))
    monkeypatch.setenv("LAB_DEBIAN_MIRROR", "http://override.invalid/debian")
    debian.bootstrap(tmp_path / "out.tar", **kwargs)
    assert calls == [["mmdebstrap"], [
        "mmdebstrap", "--quiet", "--variant=essential", *(o.replace("HOOK", str(hook)) for o in options),
        "bookworm", str(tmp_path / "out.tar"), "deb http://override.invalid/debian bookworm main"]]


def test_a_failing_program_is_one_line_naming_the_work_and_apts_error():
    with pytest.raises(SetupError) as err:
        programs.run(["sh", "-c", "echo progress; echo 'W: a warning' >&2; echo 'E: the cause' >&2; "
                      "echo 'E: a consequence' >&2; exit 100"], "apt-get update for sid", hint="; do this")
    assert str(err.value) == "apt-get update for sid failed (exit status 100): E: the cause; do this"


def test_a_failing_program_without_apts_words_gives_its_last_line(tmp_path):
    with pytest.raises(SetupError) as err:
        programs.run(["dpkg-deb", "-x", str(tmp_path / "missing.deb"), str(tmp_path)], "unpacking missing.deb")
    assert str(err.value).startswith("unpacking missing.deb failed (exit status 2): ")
    assert "\n" not in str(err.value)


def test_a_missing_program_is_one_line():
    with pytest.raises(SetupError, match=r"^no-such-program-here failed: cannot run no-such-program-here: "):
        programs.run(["no-such-program-here"])
    with pytest.raises(SetupError, match=r"^no-such-program-here is missing: install it with `apt-get install x`$"):
        programs.require("no-such-program-here", "x")


@pytest.fixture
def lab_sigint(request):
    """The lab's own SIGINT as it is, or ignored, as in a lab started by `nohup` or with `&` by a script."""
    previous = signal.getsignal(signal.SIGINT)
    if request.param == "ignored":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("lab_sigint", ["as it is", "ignored"], indirect=True)
def test_an_interrupted_program_gets_sigint_in_its_whole_group_to_clean_up(tmp_path, monkeypatch, lab_sigint):
    ready, cleaned = tmp_path / "ready", tmp_path / "cleaned"
    script = f"trap 'echo worker > {cleaned}; exit 1' INT; touch {ready}; sleep 60 & wait"
    real = subprocess.Popen.communicate

    def interrupted(proc, *args, **kwargs):
        while not ready.exists():   # the trap is set
            if proc.poll() is not None:
                return real(proc, *args, **kwargs)
        raise KeyboardInterrupt
    monkeypatch.setattr(subprocess.Popen, "communicate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        programs.run(["sh", "-c", script])
    assert cleaned.read_text() == "worker\n"
