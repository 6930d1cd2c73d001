"""The catalogue's reports after a session: an index page linking each run's report, and a
JUnit XML with one testcase per scenario step and packet rule (kernel, backend, pcaps as properties)."""

import xml.etree.ElementTree as ET
from pathlib import Path

from lab.record import RunRecord
from lab.reports.page import document, join, tag
from lab.scenario.tags import plain
from lab.scenario.windows import seen, wanted


def records(run_dirs):
    return [RunRecord.read(Path(d) / "result.json") for d in run_dirs]


def index_html(recs, root):
    rows = []
    for r in sorted(recs, key=lambda r: r.name):
        link = r.directory / "report.html"
        cell = tag("a", r.name, href=link.relative_to(root)) if link.exists() else r.name
        reason = (r.skipped or "") if r.status == "skipped" else ""
        rows.append(tag("tr", tag("td", cell), tag("td", r.status, class_=r.status),
                        tag("td", f"{sum(r.timings.values()):.2f} s"), tag("td", f"{plain(r.summary)} {reason}")))
    kernel = recs[0].environment.get("kernel", "?") if recs else "?"
    head = tag("tr", *(tag("th", h) for h in ("scenario", "verdict", "time", "what it shows")))
    return document("tcp-fault-lab catalogue", tag("h1", f"tcp-fault-lab catalogue — kernel {kernel}"),
                    tag("table", head, "\n", join(rows), class_="runs"))


def junit(recs):
    suites = ET.Element("testsuites", name="tcp-fault-lab")
    for r in sorted(recs, key=lambda r: r.name):
        if not r.complete:
            continue
        v, env = r.verdict, r.environment
        suite = ET.SubElement(suites, "testsuite", name=r.name)
        props = ET.SubElement(suite, "properties")
        for key, value in [("kernel", env["kernel"]), ("backend", env["backend"]),
                           *[(f"pcap_{p.split('.')[0]}", str(r.directory / p)) for p in r.pcaps]]:
            ET.SubElement(props, "property", name=key, value=value)
        cases = [(s.key, s.passed, f"expected {wanted(s)}, observed {seen(s)}")
                 for s in v.steps]
        cases += [(f"packets: {rule.text}", rule.passed, f"wanted {rule.wanted}, seen {rule.count}")
                  for rule in v.rules]
        cases += [(e.key, e.explained, f"no {e.because}") for e in v.evidence]
        for name, passed, message in cases:
            case = ET.SubElement(suite, "testcase", classname=r.name, name=name)
            if r.skipped:
                ET.SubElement(case, "skipped", message=r.skipped)
            elif not passed:
                ET.SubElement(case, "failure", message=message)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(not p for _, p, _ in cases) if not r.skipped else 0))
    return ET.tostring(suites, encoding="unicode")


def write(run_dirs, root):
    """Write root/index.html and root/catalogue-junit.xml for these runs; return their paths."""
    recs = records(run_dirs)
    root = Path(root)
    (root / "index.html").write_text(index_html(recs, root))
    (root / "catalogue-junit.xml").write_text(junit(recs))
    return root / "index.html", root / "catalogue-junit.xml"
