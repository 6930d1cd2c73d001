"""The TCP ladder of a run: one vertical line per host, one arrow per packet, each
call a box on its host's line with its result, faults as bands over the time
they were active, and each result joined to the packet that explains it.

Rendered as text (for the terminal and a failing test's report) and as one
self-contained HTML page (inline CSS and SVG, no fetches) by `lab report RUN_DIR`.
Rows are in time order, one event per row, with the time since the first event;
a call's row is the moment it returned, so the packet that explains its
result stands above it.
"""

import html
import json
import re
from pathlib import Path

from lab.errors import ScenarioError
from lab.timeline import build, fault_spans

LANE = 26  # characters per host in the text ladder


def hosts_of(record):
    return record["scenario"].get("hosts") or list(record["addresses"])


def text(record, include_noise=False):
    rows = build(record, include_noise)
    hosts = hosts_of(record)
    if not rows:
        return "(no events)"
    t0 = rows[0].ts
    center = {h: i * LANE + LANE // 2 for i, h in enumerate(hosts)}
    width = LANE * len(hosts)
    lines = ["          " + "".join(h.center(LANE) for h in hosts)]
    for r in rows:
        lane = [" "] * width
        for h in hosts:
            lane[center[h]] = "|"
        if r.kind == "packet" and r.src in center and r.dst in center:
            a, b = sorted((center[r.src], center[r.dst]))
            for x in range(a + 1, b):
                lane[x] = "-"
            lane[b - 1 if center[r.dst] > center[r.src] else a + 1] = ">" if center[r.dst] > center[r.src] else "<"
            label = " ".join(r.flags) or r.text.split(" ")[0]
            start = a + 2 + max(0, (b - a - 3 - len(label)) // 2)
            lane[start:start + len(label)] = label[:max(0, b - start - 1)]
            note = r.text + (f"   ← explains step {', '.join(map(str, r.explains))}" if r.explains else "")
        else:
            mark = "*" if r.kind == "fault" else "#"
            lane[center.get(r.src, 0)] = mark
            note = f"{'step ' + str(r.step) + ': ' if r.step else ''}{r.text}" + \
                   ("" if r.passed in (True, None) else "   ✗ not as expected")
        lines.append(f"{(r.ts - t0) * 1000:8.1f}  " + "".join(lane).rstrip() + "   " + note)
    return "\n".join(lines)


# ---- HTML -----------------------------------------------------------------

ROW, COL, TOP, LEFT = 26, 230, 70, 90
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2433;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} .summary{color:#555;margin:0 0 12px}
pre.story{white-space:pre-wrap;background:#f6f7f9;padding:10px 14px;border-radius:6px}
table{border-collapse:collapse;margin:12px 0} td,th{border:1px solid #d6d9de;padding:3px 8px;text-align:left}
.pass{color:#16794a;font-weight:600} .fail{color:#c0262d;font-weight:700}
svg text{font:12px ui-monospace,monospace} .host{font-weight:700;font-size:13px}
.arrow line{stroke:#3a5ba0;stroke-width:1.4} .arrow.rst line{stroke:#c0262d;stroke-width:2.2}
.arrow.fin line{stroke:#7a4fb3} .arrow.icmp line{stroke:#d97706;stroke-dasharray:5 3}
.call rect{fill:#fff;stroke:#1d2433} .call.fail rect{stroke:#c0262d;stroke-width:2}
.fault rect{fill:#fde68a;opacity:.45} .link{stroke:#16794a;stroke-dasharray:3 3;stroke-width:1.5}
"""
def short(text):
    """ "connect sock=a to=server port=7000 → ok" -> "connect a server 7000 → ok" """
    return re.sub(r"\b\w+=", "", text)


def svg(record, include_noise=False):
    rows = build(record, include_noise)
    hosts = hosts_of(record)
    x = {h: LEFT + i * COL + COL // 2 for i, h in enumerate(hosts)}
    height = TOP + ROW * (len(rows) + 1)
    width = LEFT + COL * len(hosts) + 260
    t0 = rows[0].ts if rows else 0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" id="ladder" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>']
    for host, first, last, what in fault_spans(record, rows):
        y0, y1 = TOP + ROW * first - ROW // 2, TOP + ROW * last + ROW // 2
        out.append(f'<g class="fault"><title>{html.escape(what)}</title><rect x="{x[host] - COL // 2 + 8}" '
                   f'y="{y0}" width="{COL - 16}" height="{y1 - y0}"/></g>')
    for h in hosts:
        out.append(f'<text class="host" x="{x[h]}" y="{TOP - 30}" text-anchor="middle">{html.escape(h)}</text>'
                   f'<line x1="{x[h]}" y1="{TOP - 20}" x2="{x[h]}" y2="{height - 10}" stroke="#9aa1ad"/>')
    packet_y = {}
    for i, r in enumerate(rows):
        y = TOP + ROW * i
        out.append(f'<text x="8" y="{y + 4}" fill="#777">{(r.ts - t0) * 1000:.1f} ms</text>')
        if r.kind == "packet" and r.src in x and r.dst in x:
            kind = "icmp" if r.text.startswith(("ICMP", "ARP")) or "ICMP" in r.text else \
                "rst" if "RST" in r.flags else "fin" if "FIN" in r.flags else ""
            cls = " ".join(filter(None, ["arrow", kind]))
            ident = f' id="packet-{i}"' + (f' data-explains="{",".join(map(str, r.explains))}"' if r.explains else "")
            label = html.escape(r.text)
            out.append(f'<g class="{cls}"{ident}><title>{label}</title>'
                       f'<line x1="{x[r.src]}" y1="{y}" x2="{x[r.dst]}" y2="{y}" marker-end="url(#head)"/>'
                       f'<text x="{(x[r.src] + x[r.dst]) // 2}" y="{y - 4}" text-anchor="middle">'
                       f'{html.escape(" ".join(r.flags) or r.text.split(" (")[0])}</text></g>')
            for step in r.explains:
                packet_y[step] = (y, (x[r.src] + x[r.dst]) // 2)
        elif r.src in x:
            cls = "call" + ("" if r.passed in (True, None) else " fail") if r.kind == "call" else "fault"
            label = html.escape(f"{r.step}. {short(r.text)}" if r.step else short(r.text))
            w = 7 * len(label) + 14
            out.append(f'<g class="{cls} box" id="step-{r.step}"><rect x="{x[r.src] - w // 2}" y="{y - 10}" '
                       f'width="{w}" height="18" rx="3"/><text x="{x[r.src]}" y="{y + 3}" '
                       f'text-anchor="middle">{label}</text></g>')
    for i, r in enumerate(rows):
        if r.step in packet_y and r.kind == "call":
            (py, px), y = packet_y[r.step], TOP + ROW * i
            out.append(f'<line class="link" data-step="{r.step}" x1="{px}" y1="{py}" x2="{x[r.src]}" y2="{y - 10}"/>')
    out.append("</svg>")
    return "\n".join(out)


def verdict_rows(record):
    v = record["verdict"]
    cells = []
    for s in v["steps"]:
        mark = '<span class="pass">pass</span>' if s["passed"] else '<span class="fail">FAIL</span>'
        cells.append(f"<tr><td>{s['number']}</td><td>{html.escape(s['host'])}</td><td>{html.escape(s['action'])}</td>"
                     f"<td>{html.escape(' or '.join(map(str, s['expected'])))}</td>"
                     f"<td>{html.escape(str(s['observed']))}</td><td>{mark}</td></tr>")
    return "\n".join(cells)


def page(record, include_noise=False):
    name = record["scenario"]["name"]
    status = record["verdict"].get("status", "passed" if record["verdict"].get("passed") else "failed")
    env = record.get("environment", {})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(name)}: {status}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(name)} — <span class="{'pass' if status == 'passed' else 'fail'}">{status}</span></h1>
<p class="summary">{html.escape(record['scenario']['summary'])}<br>kernel {html.escape(env.get('kernel', '?'))}
 · {html.escape(env.get('backend', '?'))} {html.escape(env.get('engine', ''))} · run {html.escape(record['run_id'])}</p>
<pre class="story">{html.escape(record['scenario'].get('story', ''))}</pre>
<table><tr><th>#</th><th>host</th><th>call</th><th>expected</th><th>observed</th><th></th></tr>
{verdict_rows(record)}</table>
<p class="summary">{"All packets, ARP included." if include_noise else
  "ARP is left out (<code>lab report --all</code> draws it)."} Red: RST; purple: FIN; dashed orange: ICMP;
  yellow bands: a fault in force; dashed green: the packet that explains a call's result.</p>
{svg(record, include_noise)}
</body></html>
"""


def load_record(run_dir):
    try:
        return json.loads((Path(run_dir) / "result.json").read_text())
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{run_dir}: not a run directory ({exc})") from None


def write_report(run_dir, include_noise=False):
    record = load_record(run_dir)
    if not record.get("complete"):
        raise ScenarioError(f"{run_dir}: the run did not complete (result.json says so); there is nothing to draw")
    path = Path(run_dir) / "report.html"
    path.write_text(page(record, include_noise))
    return path
