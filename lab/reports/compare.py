"""One matrix from many runs: rows are scenario steps and packet rules, columns are
kernels, runtimes and families (lab/cell.py) or machines, cells the observed
outcome; rows whose cells differ are marked, with the reason each column's
expectation gives (a `kernels:`, `runtimes:` or `families:` entry's why), or
"unexplained difference" where every column gives the same one.

Takes result.json files from any source (this machine, another host's CI
artifacts, later kernel VMs); only complete records count. A column is a
kernel, and also a runtime or family where the records hold more than one,
split by machine when two machines ran the same cell on one kernel (shards
of one matrix on several CI runners, each its own cells, share a column).
Several runs in one cell that disagree show every outcome seen.
"""

import json
from dataclasses import dataclass, field

from lab.errors import ScenarioError
from lab.record import RunRecord
from lab.reports import sources
from lab.scenario.model import parse_version


UNEXPLAINED = "unexplained difference: every column gives the same reason for its expectation"
NO_REASON = "(no reason given)"   # a column whose expectation gives no why


@dataclass
class Cell:
    outcomes: list = field(default_factory=list)   # one per run
    passed: list = field(default_factory=list)

    @property
    def text(self):
        if len(self.outcomes) == 1:   # the usual cell, one run: the compare page asks 100,000s of cells
            return str(self.outcomes[0])
        seen = list(dict.fromkeys(map(str, self.outcomes)))
        return " / ".join(seen) if seen else "—"

    @property
    def ok(self):
        return all(self.passed) if self.passed else None


@dataclass
class Matrix:
    columns: list
    rows: dict            # (scenario, item) -> {"expected": {column: str}, "why": {column: str}, "open": bool,
                          #                      "cells": {column: Cell}}
    runtimes: dict = field(default_factory=dict)   # column -> the runtimes' versions its runs recorded

    def differs(self, key):
        """Do the columns disagree? For a rule with an open count (≥1, 2..5), a count that varies
        (retransmissions on a lossy link) is no difference; whether it holds is."""
        row = self.rows[key]
        if row["open"]:
            return len({cell.ok for cell in row["cells"].values()}) > 1
        texts = {cell.text for cell in row["cells"].values()}
        return len(texts) > 1 or any(" / " in t for t in texts)

    def reasons(self, key):
        """Where the columns differ: {reason: its columns}, one entry per reason the columns'
        expectations give; {UNEXPLAINED: columns} when they all give the same one."""
        if not self.differs(key):
            return {}
        by_reason = {}
        for column, why in self.rows[key]["why"].items():
            by_reason.setdefault(why or NO_REASON, []).append(column)
        return by_reason if len(by_reason) > 1 else {UNEXPLAINED: list(self.rows[key]["cells"])}

    def expected(self, key):
        """What each column expected, once each (kernel-keyed expectations give several)."""
        return " / ".join(dict.fromkeys(self.rows[key]["expected"][c] for c in self.columns
                                        if c in self.rows[key]["expected"]))

    @property
    def disagreements(self):
        """Cells whose outcome is not the one expected."""
        return sum(cell.ok is False for row in self.rows.values() for cell in row["cells"].values())


def find_records(paths):
    """The complete records under `paths` (files, folders, archives: lab/reports/sources.py), each run once."""
    records = {}
    for f, data in sources.result_files(paths):
        try:
            record = RunRecord.from_dict(json.loads(data), directory=f.parent)
        except ValueError as exc:
            raise ScenarioError(f"{f}: not a result file ({exc})") from None
        if record.complete and record.verdict is not None:
            records.setdefault(sources.identity(record, data), record)
    records = list(records.values())
    if not records:
        raise ScenarioError(f"no complete result.json under {', '.join(map(str, paths))}")
    return records


def column_of(record, split_by_machine, dimensions):
    env, cell = record.environment, record.cell
    column = " ".join([env["kernel"]] + [getattr(cell, d) if d == "runtime" else f"ipv{cell.family}"
                                         for d in dimensions])
    return f"{column} @ {env.get('machine', '?')}" if split_by_machine else column


def build(records):
    """records: complete record.RunRecords."""
    machines = {}   # a cell on a kernel -> the machines that ran it
    for r in records:
        machines.setdefault((r.environment["kernel"], r.cell), set()).add(r.environment.get("machine", "?"))
    split = any(len(m) > 1 for m in machines.values())
    dimensions = [d for d in ("runtime", "family") if len({getattr(r.cell, d) for r in records}) > 1]
    columns = sorted({column_of(r, split, dimensions) for r in records},
                     key=lambda c: (parse_version(c), c))  # 5.10 < 6.1 < 10.1
    rows, versions = {}, {}
    for r in records:
        column, v, name = column_of(r, split, dimensions), r.verdict, r.name
        versions.setdefault(column, set()).update(
            f"{h['runtime']} {h['version']}" for h in r.runtimes.values() if h.get("version"))
        items = [(s.key, " or ".join(map(str, s.expected)), s.observed, s.passed, False, s.why) for s in v.steps]
        items += [(f"packets {rule.text}", rule.wanted, rule.count, rule.passed, not rule.wanted.isdigit(), rule.why)
                  for rule in v.rules]
        items += [(e.key, "explained", "explained" if e.explained else "UNEXPLAINED", e.explained, False, "")
                  for e in v.evidence]
        if r.skipped:
            items = [("skipped", "runs here", f"skipped: {r.skipped}", None, False, "")]
        for item, expected, observed, passed, open_count, why in items:
            row = rows.setdefault((name, item), {"expected": {}, "why": {}, "open": open_count, "cells": {}})
            row["expected"][column] = expected
            row["why"][column] = why
            cell = row["cells"].setdefault(column, Cell())
            cell.outcomes.append(observed)
            if passed is not None:
                cell.passed.append(passed)
    return Matrix(columns, dict(sorted(rows.items(), key=lambda kv: kv[0][0])),
                  {c: sorted(v) for c, v in versions.items()})


def as_json(matrix):
    return json.dumps({
        "columns": matrix.columns,
        "runtimes": matrix.runtimes,
        "disagreements": matrix.disagreements,
        "rows": [{"scenario": s, "item": item, "expected": row["expected"], "differs": matrix.differs((s, item)),
                  "reasons": matrix.reasons((s, item)),
                  "cells": {c: {"outcomes": cell.outcomes, "ok": cell.ok} for c, cell in row["cells"].items()}}
                 for (s, item), row in matrix.rows.items()],
    }, indent=2)


def as_html(matrix):
    """The compare page (lab/reports/compare_page.py): what differs first, agreeing rows folded, filters."""
    from lab.reports import compare_page   # it imports this module's UNEXPLAINED
    return compare_page.as_html(matrix)
