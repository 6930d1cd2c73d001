"""The compare page (`lab compare --html`, a matrix's compare.html): what differs first, at any size.

compare.py builds the matrix (rows: scenario steps and packet rules; columns: kernels,
runtimes and families); this module writes it as one self-contained page that reads top down:

1. rows whose columns differ, each with the reason each column's expectation gives and a
   link to the kernel commit a reason names, or compare.UNEXPLAINED; the unexplained first;
2. rows whose columns agree, but not with their expectation;
3. rows that agree on every column and with their expectation, folded by scenario (a closed
   <details> each, with its count), one line per row: the outcome and how many columns saw it.

Filters by scenario, kernel, runtime and family are a few lines of inline script: they hide
rows and columns, and a differing row whose shown columns no longer differ. They are read
from the address too (`compare.html#kernel=6.1.0&family=ipv6`), so a link carries them.
Without script the filters stay hidden and every row is on the page.
"""

import functools
import json
import re

from lab.reports.compare import UNEXPLAINED
from lab.reports.page import Markup, document, escape, join, tag

COMMIT = re.compile(r"\bcommit ([0-9a-f]{7,40})\b")
AXES = ("kernel", "runtime", "family")
CLASS = {True: "ok", False: "bad", None: "skip"}
FIXED = 3   # the full tables' columns before the matrix's: scenario, step or rule, expected

SCRIPT = """
(function () {
  const form = document.getElementById("filters"), shown = document.getElementById("shown");
  const columns = JSON.parse(document.getElementById("columns").textContent);
  const hiding = document.head.appendChild(document.createElement("style"));   // the hidden columns
  const fixed = %d;
  function apply() {
    const t0 = performance.now(), want = Object.fromEntries(new FormData(form));
    const on = columns.map(c => ["kernel", "runtime", "family"].every(a => !want[a] || c[a] === want[a]));
    hiding.textContent = on.map((v, i) => v ? "" : "table.cols tr>:nth-child(" + (i + fixed + 1) + "){display:none}")
      .join("");
    let rows = 0, quiet = 0, total = 0;
    const visible = tr => Array.from(tr.cells).slice(fixed, fixed + on.length).filter((td, i) => on[i]);
    for (const tr of document.querySelectorAll("table.cols tbody tr")) {
      total++;
      let show = !want.scenario || tr.dataset.s === want.scenario;
      if (show && tr.classList.contains("differs")) {   // as Matrix.differs, over the shown columns
        const cells = visible(tr).filter(td => td.className !== "none");
        const seen = cells.map(td => "open" in tr.dataset ? td.className : td.textContent);
        show = new Set(seen).size > 1 || !("open" in tr.dataset) && seen.some(t => t.includes(" / "));
        quiet += !show && (!want.scenario || tr.dataset.s === want.scenario);
      } else if (show) {
        show = visible(tr).some(td => td.classList.contains("bad"));
      }
      tr.hidden = !show;
      rows += show;
    }
    for (const details of document.querySelectorAll("details[data-s]")) {
      let left = +details.dataset.n;   // its rows; those seen on some columns only have data-c
      for (const tr of details.querySelectorAll("tr[data-c]")) {
        tr.hidden = !tr.dataset.c.split(" ").some(i => on[i]);
        left -= tr.hidden;
      }
      total += +details.dataset.n;
      details.hidden = !left || (!!want.scenario && details.dataset.s !== want.scenario);
      rows += details.hidden ? 0 : left;
    }
    shown.textContent = "Showing " + rows + " of " + total + " rows" + (quiet ? "; " + quiet +
      " differing rows hidden: they differ only between columns the filters hide" : "") + ".";
    const chosen = Object.entries(want).filter(([, v]) => v);
    history.replaceState(null, "", chosen.length ? "#" + new URLSearchParams(chosen) : location.pathname);
    document.body.dataset.filterMs = (performance.now() - t0).toFixed(1);
  }
  for (const [name, value] of new URLSearchParams(location.hash.slice(1))) {
    const select = form.elements[name];
    if (select && Array.from(select.options).some(o => o.value === value)) select.value = value;
  }
  form.hidden = false;
  form.addEventListener("change", apply);
  apply();
})();
""" % FIXED


@functools.lru_cache(maxsize=4096)
def axes(column):
    """A column's kernel, runtime and family, as compare.column_of names it ("" where the
    matrix has one runtime or family, and so does not name it).

    >>> axes("6.1.0 java-nio ipv6 @ ci-3")
    {'kernel': '6.1.0', 'runtime': 'java-nio', 'family': 'ipv6'}
    >>> axes("5.10.0")
    {'kernel': '5.10.0', 'runtime': '', 'family': ''}
    """
    kernel, *rest = column.split(" @ ")[0].split(" ")
    family = next((t for t in rest if re.fullmatch(r"ipv\d", t)), "")
    return {"kernel": kernel, "runtime": " ".join(t for t in rest if t != family), "family": family}


def sections(matrix):
    """The rows in the page's order: (differing, {key: its reasons}, agreeing but failing,
    {scenario: [(agreeing row, whether every cell passed)]}). Differing rows keep the matrix's
    order, the unexplained first."""
    reasons, failing, agree = {}, [], {}
    for key, row in matrix.rows.items():
        if matrix.differs(key):
            reasons[key] = matrix.reasons(key)
        else:
            oks = {cell.ok for cell in row["cells"].values()}
            if False in oks:
                failing.append(key)
            else:
                agree.setdefault(key[0], []).append((key, oks == {True}))
    differing = sorted(reasons, key=lambda key: UNEXPLAINED not in reasons[key])
    return differing, reasons, failing, agree


def with_commits(why):
    """A reason's text, the kernel commits it names linked to their page on git.kernel.org."""
    parts = COMMIT.split(why)   # text, hash, text, hash, ..., text
    return join([tag("a", f"commit {p}", href=f"https://git.kernel.org/linus/{p}", class_="commit")
                 if i % 2 else p for i, p in enumerate(parts)], "")


def cell_td(cell):
    """A matrix cell: its outcomes, its class whether they held (what the filters compare)."""
    if cell is None:
        return Markup('<td class="none">—</td>')
    return Markup(f'<td class="{CLASS[cell.ok]}">{escape(cell.text)}</td>')


def describe(columns, every):
    """Columns by name, or shortly when they are every column of some kernels, runtimes and families.

    >>> every = [f"{k} {r} ipv{f}" for k in ("5.10.0", "6.1.0") for r in ("c", "go") for f in "46"]
    >>> describe(every[:4], every), describe(every[4:5], every), describe(every[:2], every)
    ('kernel 5.10.0', '6.1.0 c ipv4', 'kernel 5.10.0 · runtime c')
    """
    named = {c: axes(c) for c in every}
    values = {a: dict.fromkeys(named[c][a] for c in columns) for a in AXES}
    product = {c for c in every if all(named[c][a] in values[a] for a in AXES)}
    if len(columns) < 2 or product != set(columns):
        return ", ".join(columns)
    narrowed = [f"{a} {', '.join(values[a])}" for a in AXES
                if len(values[a]) < len(dict.fromkeys(named[c][a] for c in every))]
    return " · ".join(narrowed) or "every column"


def full_row(matrix, key, reasons=None):
    row = matrix.rows[key]
    cells = [cell_td(row["cells"].get(c)) for c in matrix.columns]
    if reasons is not None:
        cells.append(tag("td", join([join([tag("b", describe(columns, matrix.columns)), ": ", with_commits(why)], "")
                                     for why, columns in reasons.items()], tag("br"))))
    cls = None if reasons is None else "differs unexplained" if UNEXPLAINED in reasons else "differs"
    return tag("tr", tag("td", key[0]), tag("td", key[1]), tag("td", matrix.expected(key)), *cells,
               class_=cls, data_s=key[0], data_open="" if row["open"] else None)


def full_table(matrix, rows, *last):
    head = tag("tr", *(tag("th", h) for h in ("scenario", "step or packet rule", "expected", *matrix.columns, *last)))
    return tag("table", tag("thead", head), tag("tbody", "\n", join(rows)), class_="cols")


def folded(matrix, scenario, keys):
    """A scenario's agreeing rows in a closed <details>: per row the outcome and where it was seen."""
    index = {c: str(i) for i, c in enumerate(matrix.columns)}
    rows = []
    for key, ok in keys:
        row = matrix.rows[key]
        cells = list(row["cells"].values())
        # a row that does not differ has one outcome, unless its count is open (≥1)
        texts = " / ".join(dict.fromkeys(c.text for c in cells)) if row["open"] else cells[0].text if cells else "—"
        every = len(cells) == len(matrix.columns)
        seen = f"on all {len(cells)} columns" if every else \
            f"on {len(cells)} of {len(matrix.columns)}: {', '.join(row['cells'])}"
        where = "" if every else f' data-c="{" ".join(index[c] for c in row["cells"])}"'
        rows.append(Markup(f"<tr{where}><td>{escape(key[1])}</td><td>{escape(matrix.expected(key))}</td>"
                           f'<td class="{CLASS[ok or None]}">{escape(texts)}</td><td>{escape(seen)}</td></tr>'))
    head = tag("tr", *(tag("th", h) for h in ("step or packet rule", "expected", "outcome", "seen")))
    summary = tag("summary", tag("b", scenario), tag("span", f" {len(keys)} rows agree on every column",
                                                     class_="count"))
    return tag("details", summary, tag("table", tag("thead", head), tag("tbody", "\n", join(rows))), data_s=scenario,
               data_n=len(keys))


def filters(matrix):
    """The filter form: a select per scenario, kernel, runtime and family that has more than one value."""
    values = {"scenario": list(dict.fromkeys(s for s, _ in matrix.rows))}
    for column in matrix.columns:
        for axis, value in axes(column).items():
            values.setdefault(axis, {})[value] = None
    selects = []
    for axis, options in values.items():
        options = [o for o in options if o]
        if len(options) > 1:
            choices = join([tag("option", f"every {axis}", value=""), *(tag("option", o, value=o) for o in options)])
            selects.append(tag("label", f"{axis} ", Markup(f'<select name="{axis}">{choices}</select>')))
    return tag("form", *selects, id="filters", hidden="")


def versions(matrix):
    """The runtimes' versions each column's runs recorded, folded: they would push the rows down."""
    lines = [f"{c}: {', '.join(v)}" for c, v in matrix.runtimes.items() if v]
    return tag("details", tag("summary", f"the runtimes' versions, by column ({len(lines)})"),
               tag("p", join(lines, tag("br")))) if lines else ""


def as_html(matrix):
    differing, reasons, failing, agree = sections(matrix)
    unexplained = sum(UNEXPLAINED in reasons[key] for key in differing)
    folded_rows = sum(map(len, agree.values()))
    columns = json.dumps([axes(c) for c in matrix.columns]).replace("<", "\\u003c")
    body = [tag("h1", "Outcomes by kernel, runtime and family"),
            tag("p", f"{len(matrix.rows)} rows, {len(matrix.columns)} columns: {len(differing)} rows differ between "
                     f"columns ({unexplained} unexplained), {len(failing)} agree between columns but not with "
                     f"their expectation, {folded_rows} agree on every column (folded by scenario). "
                     f"{matrix.disagreements} cells disagree with their expectation.", class_="summary"),
            versions(matrix),
            filters(matrix), tag("p", "", id="shown"),
            tag("section", tag("h2", f"{len(differing)} rows differ between columns"),
                full_table(matrix, [full_row(matrix, key, reasons[key]) for key in differing],
                           "why the columns differ"), id="differ")]
    if failing:
        body.append(tag("section", tag("h2", f"{len(failing)} rows agree between columns, not with their expectation"),
                        full_table(matrix, [full_row(matrix, key) for key in failing]), id="failing"))
    body.append(tag("section", tag("h2", f"{folded_rows} rows agree on every column, in {len(agree)} scenarios"),
                    join([folded(matrix, s, keys) for s, keys in agree.items()]), id="agree"))
    body += [Markup(f'<script type="application/json" id="columns">{columns}</script>'),
             Markup(f"<script>{SCRIPT}</script>")]
    return document("tcp-fault-lab: compare", *body)

