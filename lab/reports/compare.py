"""One matrix from many runs: rows are scenario steps and packet rules, columns are
kernels (or machines), cells the observed outcome; rows whose cells differ are marked.

Takes result.json files from any source (this machine, another host's CI
artifacts, later kernel VMs); only complete records count. A column is a
kernel, split by machine when two machines ran the same kernel. Several
runs in one cell that disagree show every outcome seen.
"""

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import ScenarioError
from lab.scenario.model import parse_version


@dataclass
class Cell:
    outcomes: list = field(default_factory=list)   # one per run
    passed: list = field(default_factory=list)

    @property
    def text(self):
        seen = list(dict.fromkeys(map(str, self.outcomes)))
        return " / ".join(seen) if seen else "—"

    @property
    def ok(self):
        return all(self.passed) if self.passed else None


@dataclass
class Matrix:
    columns: list
    rows: dict            # (scenario, item) -> {"expected": {column: str}, "open": bool, "cells": {column: Cell}}

    def differs(self, key):
        """Do the columns disagree? For a rule with an open count (≥1, 2..5), a count that varies
        (retransmissions on a lossy link) is no difference; whether it holds is."""
        row = self.rows[key]
        if row["open"]:
            return len({cell.ok for cell in row["cells"].values()}) > 1
        texts = {cell.text for cell in row["cells"].values()}
        return len(texts) > 1 or any(" / " in t for t in texts)

    def expected(self, key):
        """What each column expected, once each (kernel-keyed expectations give several)."""
        return " / ".join(dict.fromkeys(self.rows[key]["expected"][c] for c in self.columns
                                        if c in self.rows[key]["expected"]))

    @property
    def disagreements(self):
        """Cells whose outcome is not the one expected."""
        return sum(cell.ok is False for row in self.rows.values() for cell in row["cells"].values())


def find_records(paths):
    files = []
    for p in map(Path, paths):
        files += sorted(p.rglob("result.json")) if p.is_dir() else [p]
    records = []
    for f in files:
        try:
            record = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"{f}: not a result file ({exc})") from None
        if record.get("complete") and "verdict" in record:
            records.append(record)
    if not records:
        raise ScenarioError(f"no complete result.json under {', '.join(map(str, paths))}")
    return records


def column_of(record, split_by_machine):
    env = record["environment"]
    return f"{env['kernel']} @ {env.get('machine', '?')}" if split_by_machine else env["kernel"]


def build(records):
    kernels = {}
    for r in records:
        kernels.setdefault(r["environment"]["kernel"], set()).add(r["environment"].get("machine", "?"))
    split = any(len(machines) > 1 for machines in kernels.values())
    columns = sorted({column_of(r, split) for r in records}, key=lambda c: (parse_version(c), c))  # 5.10 < 6.1 < 10.1
    rows = {}
    for r in records:
        column, v, name = column_of(r, split), r["verdict"], r["scenario"]["name"]
        items = [(f"step {s['number']} {s['host']} {s['action']}", " or ".join(map(str, s["expected"])),
                  s["observed"], s["passed"], False) for s in v["steps"]]
        items += [(f"packets {rule['text']}", rule["wanted"], rule["count"], rule["passed"],
                   not rule["wanted"].isdigit()) for rule in v["rules"]]
        items += [(f"evidence for step {e['step']}", "explained", "explained" if e["explained"] else "UNEXPLAINED",
                   e["explained"], False) for e in v.get("evidence", [])]
        if v.get("skipped"):
            items = [("skipped", "runs here", f"skipped: {v['skipped']}", None, False)]
        for item, expected, observed, passed, open_count in items:
            row = rows.setdefault((name, item), {"expected": {}, "open": open_count, "cells": {}})
            row["expected"][column] = expected
            cell = row["cells"].setdefault(column, Cell())
            cell.outcomes.append(observed)
            if passed is not None:
                cell.passed.append(passed)
    return Matrix(columns, dict(sorted(rows.items(), key=lambda kv: kv[0][0])))


def as_json(matrix):
    return json.dumps({
        "columns": matrix.columns,
        "disagreements": matrix.disagreements,
        "rows": [{"scenario": s, "item": item, "expected": row["expected"], "differs": matrix.differs((s, item)),
                  "cells": {c: {"outcomes": cell.outcomes, "ok": cell.ok} for c, cell in row["cells"].items()}}
                 for (s, item), row in matrix.rows.items()],
    }, indent=2)


def as_html(matrix):
    head = "".join(f"<th>{html.escape(c)}</th>" for c in matrix.columns)
    body = []
    for (scenario, item), row in matrix.rows.items():
        cells = []
        for c in matrix.columns:
            cell = row["cells"].get(c)
            cls = "none" if cell is None else {True: "ok", False: "bad", None: "skip"}[cell.ok]
            cells.append(f'<td class="{cls}">{html.escape(cell.text if cell else "—")}</td>')
        mark = ' class="differs"' if matrix.differs((scenario, item)) else ""
        body.append(f"<tr{mark}><td>{html.escape(scenario)}</td><td>{html.escape(item)}</td>"
                    f"<td>{html.escape(matrix.expected((scenario, item)))}</td>{''.join(cells)}</tr>")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tcp-fault-lab: compare</title>
<style>body{{font:13px system-ui,sans-serif;margin:20px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #d6d9de;padding:2px 6px}} .ok{{color:#16794a}} .bad{{color:#c0262d;font-weight:700}}
.skip{{color:#a16207}} tr.differs td{{background:#fff4d6}}</style></head><body>
<h1>Outcomes by kernel</h1><p>{matrix.disagreements} cells disagree with their expectation; rows in yellow differ
between columns.</p><table><tr><th>scenario</th><th>step or packet rule</th><th>expected</th>{head}</tr>
{chr(10).join(body)}</table></body></html>
"""
