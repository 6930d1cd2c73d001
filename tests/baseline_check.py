"""Compare a new compare.json with the committed baseline, cell by cell; exit 1 on any difference.

    python tests/baseline_check.py NEW_compare.json [BASELINE]

BASELINE defaults to tests/data/baseline/compare.json (the kernel matrix plus
this host's runs); tests/data/baseline/docker.json and netns.json hold each
host backend alone, because a compare merges runs of the same kernel and
machine into one column. A cell is (scenario, step or packet rule, column);
it matches when its outcomes and its pass/fail are the same as the
baseline's. A packet rule with an open count ("≥1", "2..5") is matched on
pass/fail only: how many retransmissions a lossy link causes varies from run
to run, as `lab.reports.compare.Matrix.differs` treats it too. Columns are
matched by kernel series (6.1.0-41-amd64 and 6.1.0-42-amd64 are one column),
so a newer Debian build of a series is compared with the old one; its release
is printed when it differs. A cell present on one side only is a difference.

Reads compare.json as plain JSON rather than through lab.reports.compare,
which builds matrices from result.json files and is what this check guards.
"""

import json
import re
import sys
from pathlib import Path

BASELINE = Path(__file__).parent / "data" / "baseline" / "compare.json"


def series(column):
    """'6.1.0-41-amd64' -> '6.1'; '6.18.44-x @ vm' -> '6.18 @ vm'."""
    return re.sub(r"^(\d+\.\d+)\S*", r"\1", column)


def open_count(item, expected):
    return item.startswith("packets ") and not all(str(e).isdigit() for e in expected.values())


def cells(path):
    """{(scenario, item, column series): (comparable outcome, column)} from one compare.json."""
    out = {}
    for row in json.loads(Path(path).read_text())["rows"]:
        loose = open_count(row["item"], row["expected"])
        for column, cell in row["cells"].items():
            outcomes = None if loose else sorted(map(str, cell["outcomes"]))
            out[(row["scenario"], row["item"], series(column))] = ((outcomes, cell["ok"]), column)
    return out


def show(value):
    if value is None:
        return "absent"
    outcomes, ok = value
    verdict = {True: "pass", False: "FAIL", None: "no verdict"}[ok]
    return f"{verdict}" if outcomes is None else f"{' / '.join(outcomes)} ({verdict})"


def differences(new, old):
    """Lines naming each cell whose outcome or verdict is not the baseline's."""
    lines = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key, (None, None)), new.get(key, (None, None))
        if was[0] != now[0]:
            lines.append(f"{key[0]} | {key[1]} | {key[2]}: baseline {show(was[0])}, now {show(now[0])}")
    renamed = {(o[1], n[1]) for k, n in new.items() if (o := old.get(k)) and o[1] != n[1]}
    return lines, sorted(renamed)


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    old_path = Path(argv[2]) if len(argv) == 3 else BASELINE
    old, new = cells(old_path), cells(argv[1])
    lines, renamed = differences(new, old)
    for was, now in renamed:
        print(f"column {was} is compared with {now}")
    print("\n".join(lines) if lines else f"{len(old)} cells: the same outcomes as {old_path}")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
