"""The three HTML pages (a run's report, the compare matrix, the catalogue index) escape every
text a record brings, and each carries the one stylesheet."""

from html.parser import HTMLParser

from lab.record import RunRecord
from lab.reports import catalogue, compare, ladder
from lab.reports.page import STYLE

HOSTILE = '<script>alert("x")</script>'
OWN_SCRIPTS = {"compare": 2}   # the compare page's filters: its columns as JSON, and the script


def hostile(directory):
    return RunRecord.from_dict({
        "complete": True, "run_id": HOSTILE, "timings": {"steps": 1.0},
        "scenario": {"name": "x", "summary": HOSTILE, "story": HOSTILE, "hosts": ["server", "client"]},
        "environment": {"kernel": "6.1.0", "backend": HOSTILE, "engine": HOSTILE, "machine": "m"},
        "addresses": {"server": "10.0.0.2", "client": "10.0.0.3"},
        "observations": [{"step": 1, "outcome": HOSTILE, "start": 1.0, "end": 1.1, "event": {"op": "send"}},
                         {"step": 2, "outcome": "ok", "start": 1.2, "end": 1.3,
                          "event": {"fault": HOSTILE, "label": "2"}}],
        "packets": {},
        "verdict": {"status": "failed", "skipped": None, "passed": False,
                    "steps": [{"number": 1, "host": "server", "action": HOSTILE, "expected": [HOSTILE],
                               "observed": HOSTILE, "why": "", "passed": False},
                              {"number": 2, "host": "client", "action": "fault kill", "expected": ["ok"],
                               "observed": "ok", "why": "", "passed": True}],
                    "rules": [{"text": HOSTILE, "wanted": "1", "seen_at": None, "count": 0, "packets": [],
                               "why": HOSTILE, "passed": False}],
                    "evidence": []},
    }, directory=directory)


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.scripts = set(), 0

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.scripts += tag == "script"


def test_no_page_lets_a_recorded_text_become_a_tag(tmp_path):
    record = hostile(tmp_path)
    pages = {"report": ladder.page(record), "compare": compare.as_html(compare.build([record])),
             "index": catalogue.index_html([record], tmp_path)}
    for name, page in pages.items():
        parsed = Tags()
        parsed.feed(page)
        assert parsed.scripts == OWN_SCRIPTS.get(name, 0), name
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page, name
        assert page.count("<style>") == 1 and STYLE in page, name
        if name == "report":   # the call's box and the fault's band carry the text too
            assert {"svg", "rect", "title"} <= parsed.tags
            assert page.count("&lt;script&gt;") >= 8
