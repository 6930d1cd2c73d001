"""The verdict as a person reads it: a rich table of steps, one of packet rules.

The only module that knows rich (besides the CLI's progress line).
"""

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lab.reports.compare import UNEXPLAINED
from lab.verdict import describe
from lab.scenario.tags import plain
from lab.scenario.windows import seconds_text, seen, wanted

PASS, FAIL = Text("pass", style="bold green"), Text("FAIL", style="bold red")


def shown(outcomes):
    return " or ".join(str(o) for o in outcomes)


def words(event):
    """What the program was told, in its runtime's words (libc's strerror where there are none)."""
    return event.get("words") or event.get("strerror") or ""


def steps_table(verdict, observations=()):
    said = {o.number: words(o.event) for o in observations}
    table = Table(title="Socket calls", title_justify="left", expand=False)
    for col in ("#", "host", "call", "expected", "observed", "", *(["the program's words"] if any(said.values())
                                                                 else [])):
        table.add_column(col)
    for s in verdict.steps:
        observed = Text(seen(s), style="" if s.passed else "red")
        table.add_row(str(s.number), s.host, s.action, wanted(s), observed, PASS if s.passed else FAIL,
                      *([Text(said.get(s.number, ""), style="cyan")] if any(said.values()) else []))
    return table


def rules_table(verdict):
    table = Table(title="Packets on the wire", title_justify="left", expand=False)
    for col in ("packets", "seen at", "wanted", "seen", "", "why"):
        table.add_column(col)
    for r in verdict.rules:
        table.add_row(r.text, r.seen_at or "-", r.wanted, str(r.count), PASS if r.passed else FAIL,
                      Text(r.why, style="dim"))
    return table


def evidence_table(verdict):
    table = Table(title="Why: the packet behind each failure and EOF", title_justify="left", expand=False)
    for col in ("#", "outcome", "explained by", "seen at"):
        table.add_column(col)
    for e in verdict.evidence:
        shown = e.packets[0] if e.packets else e.because if e.explained else f"UNEXPLAINED: no {e.because}"
        what = Text(shown, style="" if e.explained else "bold red")  # explained with no packet: by a rule in force
        table.add_row(str(e.step), str(e.outcome), what, e.seen_at or "-")
    return table


def wire_table(result):
    from lab.wire import summarize
    table = Table(title="What crossed the wire (each capture)", title_justify="left", expand=False)
    table.add_column("capture")
    table.add_column("direction", no_wrap=True)
    for col in ("pkts", "SYN", "FIN", "RST", "data", "rexmit", "ICMP"):
        table.add_column(col)
    for host, segments in result.segments.items():
        for row in summarize(segments, result.addresses):
            icmp = ", ".join(f"{n}×{k}" for k, n in row["icmp"].items())
            table.add_row(host, row["direction"], *(str(row[k]) for k in
                          ("packets", "SYN", "FIN", "RST", "data", "retransmitted")), icmp)
    return table


def failures(verdict):
    """The reasons behind each failed step, for the lines under the tables."""
    lines = []
    for s in verdict.steps:
        if not s.passed and s.why:
            lines.append(f"step {s.number}: expected {wanted(s)} because: {s.why}")
    for r in verdict.rules:
        if not r.passed and r.packets:
            lines.append(f"{r.text}: matched " + "; ".join(r.packets[:3]))
    return lines


def show(result, console=None):
    console = console or Console()
    v, env = result.verdict, result.env
    console.print(f"[bold]{result.scenario.name}[/bold] — {plain(result.scenario.summary)}")
    console.print(f"kernel {env['kernel']} · {env['backend']} engine {env['engine']} · run {result.run_id}")
    console.print("runtimes: " + " · ".join(f"{host} {opts.runtime}" + (
        f" ({result.runtimes[host]['version']})" if result.runtimes.get(host, {}).get("version") else "")
        for host, opts in result.scenario.hosts.items()), highlight=False)
    if result.skipped:
        console.print(Text(f"SKIPPED: {result.skipped}", style="bold yellow"))
        return
    console.print(steps_table(v, result.observations))
    console.print(rules_table(v))
    if v.evidence:
        console.print(evidence_table(v))
    console.print(wire_table(result))
    for line in failures(v):
        console.print(f"[red]{line}[/red]")
    for line in v.unhealed:
        console.print(Text(f"could not undo the fault of {line}", style="red"))
    if not v.passed:
        from lab.record import RunRecord
        from lab.reports import ladder, result as result_file
        console.print(Text("The run as a ladder (times in ms):", style="bold"))
        console.print(ladder.text(RunRecord.from_dict(result_file.record(result))), highlight=False, markup=False,
                      soft_wrap=True)
    t = result.timings
    console.print(f"[dim]{' · '.join(f'{k} {val:.2f} s' for k, val in t.items())}[/dim]")
    if result.directory:
        console.print(f"[dim]results: {result.directory}[/dim]")
    console.print(Text("PASSED", style="bold green") if v.passed else Text("FAILED", style="bold red"))


def show_words(rows, console, situations=False):
    from lab.runtimes import NAMES
    table = Table(title="What each runtime told the program", title_justify="left", show_lines=True)
    table.add_column("outcome (kernel)")
    for runtime in NAMES:
        table.add_column(runtime)
    for row in rows.values():
        table.add_row(row.label, *("\n".join(row.cells.get(rt, {})) or "—" for rt in NAMES))
    console.print(table)
    for row in rows.values() if situations else ():
        console.print(f"{row.label}: " + ", ".join(f"{name} step {step}" for name, step in row.situations()))
    if not rows:
        console.print("no outcome matches")


def show_stability(name, rows, console):
    runs = sum(n for _, n in rows[0].counts) if rows else 0
    unstable = [r for r in rows if not r.stable]
    if not unstable:
        console.print(Text(f"{name}: stable — every step, packet rule and verdict the same in all {runs} runs",
                           style="bold green"))
        return
    table = Table(title=f"{name}: UNSTABLE over {runs} runs", title_justify="left", expand=False)
    table.add_column("item")
    table.add_column("outcomes (runs)")
    for row in unstable:
        table.add_row(row.item, row.text)
    console.print(table)


def show_compare(matrix, console, everything=False):
    table = Table(title="Outcomes by kernel", title_justify="left")
    for col in ("scenario", "step or packet rule", "expected", *matrix.columns):
        table.add_column(col)
    hidden = 0
    for key, row in matrix.rows.items():
        cells = [row["cells"].get(c) for c in matrix.columns]
        if not (everything or matrix.differs(key) or any(c and c.ok is False for c in cells)):
            hidden += 1
            continue
        style = {True: "green", False: "bold red", None: "yellow"}
        table.add_row(*key, matrix.expected(key),
                      *[Text(c.text, style=style[c.ok]) if c else Text("—", style="dim") for c in cells],
                      style="on grey15" if matrix.differs(key) else "")
    console.print(table)
    for key in filter(matrix.differs, matrix.rows):
        for why, columns in matrix.reasons(key).items():
            console.print(Text(f"{key[0]} · {key[1]} · {', '.join(columns)}: {why}",
                               style="yellow" if why == UNEXPLAINED else ""), highlight=False)
    if hidden:
        console.print(f"[dim]{hidden} rows agree on every column and with their expectation (--all shows them)[/dim]")
    console.print(f"{matrix.disagreements} cells disagree with their expectation")
    for column, versions in matrix.runtimes.items():
        if versions:
            console.print(f"[dim]{column}: {', '.join(versions)}[/dim]", highlight=False)


def show_kernel_runs(runs, console):
    """One line per kernel of a matrix: how it ran and how long booting and the catalogue took."""
    table = Table(title="Kernels", title_justify="left")
    for col in ("kernel", "release", "accel", "boot s", "catalogue s", "passed", "failed", "skipped"):
        table.add_column(col)
    for k in runs:
        table.add_row(k.request, k.release, k.accel,
                      *(f"{t:.1f}" if t is not None else "—" for t in (k.boot_seconds, k.catalogue_seconds)),
                      *(str(k.verdicts[v]) for v in ("passed", "failed", "skipped")))
    console.print(table)
    for k in runs:
        if k.error:
            console.print(Text(f"{k.request} could not run: {k.error}", style="bold red"))


def show_scenario(s, console):
    """A scenario as `lab show` prints it: its story, each step with what it expects and
    why (and per kernel where kernels differ), and the packet rules."""
    console.print(f"[bold]{s.name}[/bold] — {plain(s.summary)}\n")
    console.print(plain(s.story) + "\n", highlight=False)
    for step in s.steps:
        expected = " or ".join(map(str, step.expect.outcomes)) + (
            f" in {seconds_text(step.expect.seconds)}" if step.expect.seconds else "")
        console.print(f"{step.number:>3}. {step.host:<8} {describe(step):<40} → {expected}", highlight=False)
        if step.expect.why:
            console.print(f"       [dim]{step.expect.why}[/dim]")
        for k in step.expect.kernels:
            console.print(f"       kernel {k.range}: {' or '.join(map(str, k.outcomes))}  [dim]{k.why}[/dim]",
                          highlight=False)
    console.print("\nOn the wire:")
    for r in s.packets:
        console.print(f"  {r.text}: {r.wanted}  [dim]{r.why}[/dim]", highlight=False)
        for k in r.kernels:
            console.print(f"    kernel {k.range}: {k.wanted}  [dim]{k.why}[/dim]", highlight=False)
