"""What the kernel matrix found, in words: the README's paragraph between its markers.

`make matrix` writes runs/matrix/compare.json; `make findings` keeps a copy
as scenarios/matrix/compare.json (beside the catalogue whose outcomes it holds) and `make
readme` writes this paragraph from it, so the README says what the last matrix measured and
nothing by hand. A test fails when the README and the kept file differ.

A row is told once, by its differing outcomes, each with the columns that saw it, and
by the reasons its scenario gives for them (the first sentence of each `why`).
"""

import json
import re
from pathlib import Path

from lab.reports.compare import NO_REASON

KEPT = Path(__file__).resolve().parent.parent / "scenarios" / "matrix" / "compare.json"
BEGIN, END = "<!-- matrix: made by `make readme` from scenarios/matrix/compare.json -->", "<!-- /matrix -->"


def first_sentence(text):
    """ "Two segments. More." -> "Two segments." (a commit named later is kept)

    >>> first_sentence("Before 6.5 one SYN fewer. See commit ccce324dabfe (6.5).")
    'Before 6.5 one SYN fewer (commit ccce324dabfe).'
    """
    head = re.split(r"(?<=[a-z0-9)\"'])\.\s+(?=[A-Z])", text.strip(), maxsplit=1)[0].rstrip(".")
    commits = [c for c in re.findall(r"\b[0-9a-f]{12}\b", text) if c not in head]
    return head + (f" (commit {', '.join(commits)})" if commits else "") + "."


def outcomes_by_columns(row):
    """{outcome text: [columns]} in the order the columns come."""
    seen = {}
    for column, cell in row["cells"].items():
        seen.setdefault(" / ".join(dict.fromkeys(map(str, cell["outcomes"]))) or "—", []).append(column)
    return seen


def markdown(compare):
    rows = [r for r in compare["rows"] if r["differs"]]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    lines = [f"The last full matrix (columns: {', '.join(compare['columns'])}) ran {len(compare['rows'])} "
             f"steps and packet rules; {len(rows)} of them differ between columns, in {len(scenarios)} "
             f"scenarios; cells that disagreed with their expectation: {compare['disagreements']}.", ""]
    for r in rows:
        seen = "; ".join(f"{outcome} on {', '.join(columns)}" for outcome, columns in outcomes_by_columns(r).items())
        why = " ".join(dict.fromkeys(first_sentence(w) for w in r["reasons"] if w != NO_REASON))
        lines.append(f"- `{r['scenario']}`, {r['item']}: {seen}. {why}")
    return "\n".join(lines)


def readme_with_findings(readme, path=KEPT):
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown(json.loads(path.read_text()))}\n{END}{tail}"
