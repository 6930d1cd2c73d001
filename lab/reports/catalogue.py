"""The catalogue's reports after a session: an index page linking each run's report, and a
JUnit XML with one testcase per scenario step and packet rule (kernel, backend, pcaps as properties)."""

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path


def records(run_dirs):
    out = []
    for d in run_dirs:
        record = json.loads((Path(d) / "result.json").read_text())
        record["dir"] = Path(d)
        out.append(record)
    return out


def status(record):
    if not record.get("complete"):
        return "incomplete"
    return record["verdict"]["status"]


def index_html(recs, root):
    rows = []
    for r in sorted(recs, key=lambda r: r["scenario"]["name"]):
        st = status(r)
        link = (r["dir"] / "report.html")
        name = html.escape(r["scenario"]["name"])
        cell = f'<a href="{html.escape(str(link.relative_to(root)))}">{name}</a>' if link.exists() else name
        total = sum(v for k, v in r.get("timings", {}).items())
        reason = html.escape(r["verdict"].get("skipped") or "") if st == "skipped" else ""
        rows.append(f'<tr><td>{cell}</td><td class="{st}">{st}</td><td>{total:.2f} s</td>'
                    f'<td>{html.escape(r["scenario"]["summary"])} {reason}</td></tr>')
    kernel = html.escape(recs[0]["environment"]["kernel"]) if recs and "environment" in recs[0] else "?"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tcp-fault-lab catalogue</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px}} td,th{{border:1px solid #d6d9de;padding:3px 8px;white-space:nowrap}} td:last-child{{white-space:normal}}
table{{border-collapse:collapse}} .passed{{color:#16794a}} .failed,.incomplete{{color:#c0262d;font-weight:700}}
.skipped{{color:#a16207}}</style></head><body><h1>tcp-fault-lab catalogue — kernel {kernel}</h1>
<table><tr><th>scenario</th><th>verdict</th><th>time</th><th>what it shows</th></tr>
{chr(10).join(rows)}</table></body></html>
"""


def junit(recs):
    suites = ET.Element("testsuites", name="tcp-fault-lab")
    for r in sorted(recs, key=lambda r: r["scenario"]["name"]):
        if not r.get("complete"):
            continue
        v, env = r["verdict"], r["environment"]
        suite = ET.SubElement(suites, "testsuite", name=r["scenario"]["name"])
        props = ET.SubElement(suite, "properties")
        for key, value in [("kernel", env["kernel"]), ("backend", env["backend"]),
                           *[(f"pcap_{p.split('.')[0]}", str(r["dir"] / p)) for p in r["files"]["pcaps"]]]:
            ET.SubElement(props, "property", name=key, value=value)
        cases = [(f"step {s['number']} {s['host']} {s['action']}", s["passed"],
                  f"expected {' or '.join(map(str, s['expected']))}, observed {s['observed']}") for s in v["steps"]]
        cases += [(f"packets: {rule['text']}", rule["passed"], f"wanted {rule['wanted']}, seen {rule['count']}")
                  for rule in v["rules"]]
        cases += [(f"evidence for step {e['step']}", e["explained"], f"no {e['because']}") for e in v["evidence"]]
        for name, passed, message in cases:
            case = ET.SubElement(suite, "testcase", classname=r["scenario"]["name"], name=name)
            if v.get("skipped"):
                ET.SubElement(case, "skipped", message=v["skipped"])
            elif not passed:
                ET.SubElement(case, "failure", message=message)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(not p for _, p, _ in cases) if not v.get("skipped") else 0))
    return ET.tostring(suites, encoding="unicode")


def write(run_dirs, root):
    """Write root/index.html and root/catalogue-junit.xml for these runs; return their paths."""
    recs = records(run_dirs)
    root = Path(root)
    (root / "index.html").write_text(index_html(recs, root))
    (root / "catalogue-junit.xml").write_text(junit(recs))
    return root / "index.html", root / "catalogue-junit.xml"
