"""`lab words` against the runs it was made from: every cell, word for word, is in the
result.json it links, at the step it names, from a host of the cell's runtime.

The runs are real (netns backend): close-unread and kill-unread-data with c, java-nio
and node, the runtimes whose words differ most (libc's text, the JDK's exceptions,
Node's own errors).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.pytest_plugin import require_engine

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = ("c", "java-nio", "node")


def lab(*args):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    require_engine("netns")
    out = tmp_path_factory.mktemp("words")
    for runtime in RUNTIMES:
        done = lab("--backend", "netns", "run", "close-unread", "kill-unread-data", "--runtime", runtime,
                   "--out", str(out))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    done = lab("words", str(out), "--json", str(out / "words.json"))
    assert done.returncode == 0, done.stderr
    return json.loads((out / "words.json").read_text()), done.stdout


def test_every_cell_is_in_the_result_it_links(table):
    data, _ = table
    cells = [(row["row"], runtime, cell) for row in data["rows"] for runtime, cs in row["cells"].items() for cell in cs]
    assert len(cells) >= 6
    for row, runtime, cell in cells:
        record = json.loads(Path(cell["result"]).read_text())
        assert record["scenario"]["name"] == cell["scenario"]
        observation = next(o for o in record["observations"] if o["step"] == cell["step"])
        host = next(s["host"] for s in record["verdict"]["steps"] if s["number"] == cell["step"])
        assert record["runtimes"][host]["runtime"] == runtime, (row, cell)
        event = observation["event"]
        given = event.get("words", event.get("strerror", "0 (end of stream)" if observation["outcome"] == "EOF"
                                             else observation["outcome"]))
        assert str(given) == cell["words"], (row, runtime, cell, event)


def test_the_runtimes_are_told_different_words_for_one_reset(table):
    data, _ = table
    reset = next(r for r in data["rows"] if r["row"] == "recv → ECONNRESET")
    said = {rt: {c["words"] for c in cells} for rt, cells in reset["cells"].items() if cells}
    assert "Connection reset by peer" in said["c"]
    assert "java.net.SocketException: Connection reset" in said["java-nio"]  # the JDK's own text, no errno
    assert said["node"] == {"end"}  # Node's 'end' event: the Node client had read the data ahead, its kill sent a FIN


def test_grep_finds_the_situations_behind_a_pasted_message(table):
    data, _ = table
    done = lab("words", str(Path(data["rows"][0]["cells"]["c"][0]["result"]).parents[1]),
               "--grep", "connection reset")
    assert done.returncode == 0, done.stderr
    assert "recv → ECONNRESET" in done.stdout and "kill-unread-data step 8" in done.stdout
    assert lab("words", str(Path(data["rows"][0]["cells"]["c"][0]["result"]).parents[1]),
               "--grep", "no such words anywhere").returncode == 1
