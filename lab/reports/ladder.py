"""The TCP ladder of a run: one vertical line per host, one arrow per packet, each
call a box on its host's line with its result, faults as bands over the time
they were active, and each result joined to the packet that explains it.

Rendered as text (for the terminal and a failing test's report) and as one
self-contained HTML page (page.py's stylesheet and SVG inline, no fetches) by
`lab report RUN_DIR`.
Rows are in time order, one event per row, with the time since the first event;
a call's row is the moment it returned, so the packet that explains its
result stands above it.
"""

import re
from pathlib import Path

from lab.errors import ScenarioError
from lab.record import RunRecord
from lab.reports.page import document, join, tag, void
from lab.timeline import build, fault_spans
from lab.scenario.tags import plain
from lab.scenario.windows import seen, wanted

LANE = 26  # characters per host in the text ladder


def text(record, include_noise=False):
    """record: a record.RunRecord."""
    if not record.complete:
        return "(the run did not complete: there is nothing to draw)"
    rows = build(record, include_noise)
    hosts = record.hosts
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


CHAR = 7.2  # px a character of the ladder's 12px monospace text takes


def arrow_label(row, span):
    """The words over a packet's arrow, to fit between its two host lines `span` px apart (the
    whole text is the arrow's title): its flags; else its text up to " (", or the first two words
    ("ARP request", "ND solicitation", "ICMP admin-prohibited": an IPv6 address is long), or the
    ICMP name alone."""
    if row.flags:
        return " ".join(row.flags)
    words = row.text.split(" (")[0].split(" ")
    fits = [label for label in (" ".join(words), " ".join(words[:2]), words[1] if len(words) > 1 else "")
            if len(label) * CHAR <= span]
    return fits[0] if fits else " ".join(words[:2])


def short(text):
    """ "connect sock=a to=server port=7000 → ok" -> "connect a server 7000 → ok" """
    return re.sub(r"\b\w+=", "", text)


def svg(record, include_noise=False):
    rows = build(record, include_noise)
    hosts = record.hosts
    x = {h: LEFT + i * COL + COL // 2 for i, h in enumerate(hosts)}
    height = TOP + ROW * (len(rows) + 1)
    width = LEFT + COL * len(hosts) + 260
    t0 = rows[0].ts if rows else 0
    out = [tag("defs", tag("marker", void("path", d="M0,0 L10,5 L0,10 z", fill="context-stroke"), id="head",
                           viewBox="0 0 10 10", refX=10, refY=5, markerWidth=7, markerHeight=7,
                           orient="auto-start-reverse"))]
    for host, first, last, what in fault_spans(record, rows):
        y0, y1 = TOP + ROW * first - ROW // 2, TOP + ROW * last + ROW // 2
        out.append(tag("g", tag("title", what), void("rect", x=x[host] - COL // 2 + 8, y=y0, width=COL - 16,
                                                       height=y1 - y0), class_="fault"))
    for h in hosts:
        out.append(join([tag("text", h, class_="host", x=x[h], y=TOP - 30, text_anchor="middle"),
                         void("line", x1=x[h], y1=TOP - 20, x2=x[h], y2=height - 10, stroke="#9aa1ad")], ""))
    packet_y = {}
    for i, r in enumerate(rows):
        y = TOP + ROW * i
        out.append(tag("text", f"{(r.ts - t0) * 1000:.1f} ms", x=8, y=y + 4, fill="#777"))
        if r.kind == "packet" and r.src in x and r.dst in x:
            kind = "icmp" if r.text.startswith(("ICMP", "ARP", "ND ")) or "ICMP" in r.text else \
                "rst" if "RST" in r.flags else "fin" if "FIN" in r.flags else ""
            out.append(tag("g", tag("title", r.text),
                           void("line", x1=x[r.src], y1=y, x2=x[r.dst], y2=y, marker_end="url(#head)"),
                           tag("text", arrow_label(r, abs(x[r.src] - x[r.dst])), x=(x[r.src] + x[r.dst]) // 2,
                               y=y - 4, text_anchor="middle"),
                           class_=" ".join(filter(None, ["arrow", kind])), id=f"packet-{i}",
                           data_explains=",".join(map(str, r.explains)) or None))
            for step in r.explains:
                packet_y[step] = (y, (x[r.src] + x[r.dst]) // 2)
        elif r.src in x:
            cls = "call" + ("" if r.passed in (True, None) else " fail") if r.kind == "call" else "fault"
            label = f"{r.step}. {short(r.text)}" if r.step else short(r.text)
            w = 7 * len(label) + 14
            out.append(tag("g", void("rect", x=x[r.src] - w // 2, y=y - 10, width=w, height=18, rx=3),
                           tag("text", label, x=x[r.src], y=y + 3, text_anchor="middle"),
                           class_=f"{cls} box", id=f"step-{r.step}"))
    for i, r in enumerate(rows):
        if r.step in packet_y and r.kind == "call":
            (py, px), y = packet_y[r.step], TOP + ROW * i
            out.append(void("line", class_="link", data_step=r.step, x1=px, y1=py, x2=x[r.src], y2=y - 10))
    return tag("svg", "\n", join(out), "\n", xmlns="http://www.w3.org/2000/svg", id="ladder", width=width,
               height=height, viewBox=f"0 0 {width} {height}")


def verdict_row(step):
    mark = tag("span", "pass", class_="pass") if step.passed else tag("span", "FAIL", class_="fail")
    cells = (step.number, step.host, step.action, wanted(step), seen(step), mark)
    return tag("tr", *(tag("td", cell) for cell in cells))


def page(record, include_noise=False):
    env, status = record.environment, record.status
    return document(
        f"{record.name}: {status}",
        tag("h1", record.name, " — ", tag("span", status, class_="pass" if status == "passed" else "fail")),
        tag("p", plain(record.summary), void("br"), f"kernel {env.get('kernel', '?')} · {env.get('backend', '?')} "
            f"{env.get('engine', '')} · run {record.run_id}", class_="summary"),
        tag("pre", plain(record.story), class_="story"),
        tag("table", tag("tr", *(tag("th", h) for h in ("#", "host", "call", "expected", "observed", ""))), "\n",
            join(verdict_row(s) for s in record.verdict.steps)),
        tag("p", "All packets, ARP and IPv6 neighbour discovery included." if include_noise else join(
            ["ARP and IPv6 neighbour discovery are left out (", tag("code", "lab report --all"), " draws them)."], ""),
            " Red: RST; purple: FIN; dashed orange: ICMP, ICMPv6; yellow bands: a fault in force; "
            "dashed green: the packet that explains a call's result.", class_="summary"),
        svg(record, include_noise))


def load_record(run_dir):
    try:
        return RunRecord.read(Path(run_dir) / "result.json")
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{run_dir}: not a run directory ({exc})") from None


def write_report(run_dir, include_noise=False):
    record = load_record(run_dir)
    if not record.complete:
        raise ScenarioError(f"{run_dir}: the run did not complete (result.json says so); there is nothing to draw")
    path = Path(run_dir) / "report.html"
    path.write_text(page(record, include_noise))
    return path
