"""lab: run TCP failure scenarios and show what each socket call saw.

    lab run NAME [NAME...]   run scenarios (a catalogue name or a scenario file's path);
                             exit 0 all passed, 1 a failed expectation
        [--repeat N]         ... N times each, and say whether every outcome was the same
        [--runtime R]        ... hosts naming no runtime in R: c, python (default), java-nio, java-socket, go, node
        [--family F]         ... over IPv4 (4, default), IPv6 (6) or each (both)
    lab list                 the catalogue, one line each (faults, kernel features here)
    lab catalogue            the catalogue as a Markdown table (the README's)
    lab show NAME            a scenario's story, steps and expectations (NAME or a file's path)
    lab show RUN_DIR         a run's TCP ladder as text
    lab report RUN_DIR       a run's report.html: story, verdict, TCP ladder (SVG)
    lab compare PATH...      outcomes by kernel (and runtime, family, machine) from runs (folders, archives); exit 1 if any disagrees
    lab words [--grep TEXT]  each runtime's words per outcome, from runs (those with TEXT, and where)
    lab matrix KERNEL...     the catalogue on Debian kernels in qemu ("5.10 6.1 6.12 7.2"), compared (--runtime: c, go; --family; --shard I/N)
    lab images               build the images (only what is missing)
    lab clean [--all]        remove what killed runs left behind (--all: running ones too)

    --backend netns          hosts as network namespaces on this machine (root), not containers

Exit status 2: bad input (scenario file, name, argument) or an environment
that cannot run the lab (engine unreachable, build failed): one line on stderr.
"""

import argparse
import os
import signal
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from lab.cli_args import Parser, repeat_count, shard
from lab.errors import LabError, SetupError, StepTimeout
from lab.progress import progress
from lab.scenario import load as loader
from lab.scenario.tags import plain


def interrupt_on_sigterm():
    """SIGTERM unwinds like Ctrl-C, so every run's teardown still happens; once. A second one
    (make sends its children the SIGTERM their process group already had) changes nothing."""
    def raise_interrupt(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, raise_interrupt)


def ignore_interrupts():
    """On the way out a second Ctrl-C or SIGTERM changes nothing (make sends its children the
    SIGTERM their process group already had: seen as a traceback after the clean exit)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def cmd_run(args, console):
    from lab import recording, stability
    from lab.backends import get_backend
    from lab.cell import families
    from lab.reports import terminal

    scenarios = [loader.load(loader.find(name)) for name in args.names]
    all_good = True
    with progress(console, f"setting up the {args.backend} backend") as status:
        backend = get_backend(args.backend, say=console.print)
        for scenario, family in ((s, f) for s in scenarios for f in families(args.family)):
            runs = []
            for i in range(args.repeat):
                counter = f" (run {i + 1}/{args.repeat})" if args.repeat > 1 else ""
                res = recording.run_recorded(scenario, backend, args.out, runtime=args.runtime, family=family,
                                             progress=lambda msg: status.update(f"{scenario.name}{counter}: {msg}"))
                runs.append(res)
                all_good &= res.verdict.passed or bool(res.skipped)  # a skip names what is missing
            status.stop()
            terminal.show(runs[-1], console)
            if args.repeat > 1:
                rows = stability.distributions([stability.outcomes_of(r) for r in runs])
                terminal.show_stability(f"{scenario.name} over IPv{family}", rows, console)
                all_good &= all(row.stable for row in rows)
            status.start()
    return 0 if all_good else 1


def cmd_list(args, console):
    from lab import catalogue
    scenarios = catalogue.scenarios()
    status = {}
    if not args.no_probe:
        try:
            status = probe_features({f for s in scenarios for f in catalogue.features_of(s)}, args)
        except SetupError as exc:  # no engine, or no root for netns: the list still answers, features "not probed"
            print(f"lab: kernel features not probed: {exc}", file=sys.stderr)
    for s in scenarios:
        needs = [f"{f}: {'missing' if status.get(f) else 'present' if f in status else 'not probed'}"
                 for f in catalogue.features_of(s)]
        extra = " · ".join(filter(None, [", ".join(catalogue.faults_of(s)), ", ".join(needs)]))
        console.print(f"[bold]{s.name:<22}[/bold] {escape(plain(s.summary))} [dim]{escape(extra and '[' + extra + ']')}[/dim]",
                      highlight=False, soft_wrap=True)
    return 0


def probe_features(features, args):
    """{feature: None if present else the reason}, probed in a throwaway lab host."""
    if not features:
        return {}
    from lab import probes, runner
    from lab.backends import get_backend
    from lab.backends.base import HostSpec, Topology
    backend = get_backend(args.backend)
    probe = Topology(runner.new_run_id(), (HostSpec("probe", caps=("NET_ADMIN",), captured=False),))
    with runner.deployed(backend, probe) as deployment:
        return {f: probes.check(deployment.hosts["probe"], f) for f in sorted(features)}


def cmd_compare(args, console):
    from lab.reports import compare, terminal
    matrix = compare.build(compare.find_records(args.paths))
    terminal.show_compare(matrix, console, everything=args.all)
    if args.json:
        args.json.write_text(compare.as_json(matrix) + "\n")
    if args.html:
        args.html.write_text(compare.as_html(matrix))
    return 1 if matrix.disagreements else 0


def cmd_words(args, console):
    from lab.reports import compare, terminal, words
    rows = words.build(compare.find_records(args.paths))
    if args.grep:
        rows = words.grep(rows, args.grep)
    terminal.show_words(rows, console, situations=bool(args.grep))
    if args.json:
        args.json.write_text(words.as_json(rows) + "\n")
    if args.html:
        args.html.write_text(words.as_html(rows))
    return 0 if rows else 1


def cmd_matrix(args, console):
    from lab import matrix
    from lab.cell import families
    from lab.reports import terminal
    [loader.path_for(name) for name in args.names or ()]  # an unknown name fails here, not after a boot
    with progress(console, "kernel matrix") as status:
        done, table, seconds = matrix.run(args.kernels, args.names or (), args.out, args.also, args.runtime or (),
                                          say=lambda msg: status.update(escape(msg)), tell=status.event,
                                          families=() if args.family == "4" else families(args.family),
                                          shard=args.shard)
    terminal.show_compare(table, console, everything=args.all)
    terminal.show_kernel_runs(done, console)
    console.print(f"{len(done)} kernels in {seconds // 60:.0f} min {seconds % 60:.0f} s")
    console.print(f"compare page: {args.out / 'compare.html'}")
    return 1 if table.disagreements or any(k.status != 0 for k in done) else 0


def cmd_catalogue(args, console):
    from lab import catalogue
    print(catalogue.markdown())
    return 0


def cmd_report(args, console):
    from lab.reports import ladder
    console.print(f"wrote {ladder.write_report(args.run_dir, include_noise=args.all)}")
    return 0


def cmd_show(args, console):
    if Path(args.name).is_dir():  # a run directory: its ladder
        from lab.reports import ladder
        record = ladder.load_record(args.name)
        print(ladder.text(record, include_noise=args.all))
        return 0
    from lab.reports import terminal
    terminal.show_scenario(loader.load(loader.find(args.name)), console)
    return 0


def cmd_images(args, console):
    from lab.backends import get_backend
    backend = get_backend(args.backend, say=console.print)
    tags = backend.ensure_images()
    for name, tag in tags.items():
        console.print(f"{name:<8} {tag}")
    if not tags:
        console.print(f"the {args.backend} backend needs no images")
    return 0


def cmd_clean(args, console):
    """Every backend that can run here: a killed run of either may have left something."""
    from lab.backends import BACKENDS, get_backend
    removed = []
    for name in BACKENDS:
        try:
            removed += get_backend(name).clean(everything=args.all)
        except SetupError as exc:
            console.print(f"[dim]{name}: nothing to clean ({escape(str(exc))})[/dim]")
    for item in removed:
        console.print(f"removed {item}")
    console.print(f"{len(removed)} leftovers removed")
    return 0


def parser():
    from lab.backends import BACKENDS
    from lab.runner import RUNS
    from lab.cell import FAMILIES
    from lab.runtimes import NAMES as RUNTIMES
    p = Parser(prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=BACKENDS, default=os.environ.get("LAB_BACKEND", "docker"),
                   help="where hosts run: Docker containers, or network namespaces on this machine "
                        "(root; default: $LAB_BACKEND or docker)")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenarios and print their verdicts")
    run.add_argument("names", nargs="+", metavar="NAME", help="a catalogue name, or the path of a scenario file")
    run.add_argument("--out", type=Path, default=RUNS, help="where run directories go")
    run.add_argument("--repeat", type=repeat_count, default=1, metavar="N",
                     help="run each scenario N times and report whether every outcome was the same")
    run.add_argument("--runtime", choices=RUNTIMES, default=None,
                     help="the runtime of every host whose scenario entry names none (default: python)")
    run.add_argument("--family", choices=(*FAMILIES, "both"), default="4",
                     help="the hosts' address family: IPv4 (default), IPv6, or a run over each")
    run.set_defaults(fn=cmd_run)
    listing = sub.add_parser("list", help="the catalogue, with the kernel features each scenario needs")
    listing.add_argument("--no-probe", action="store_true", help="do not start a host to probe kernel features")
    listing.set_defaults(fn=cmd_list)
    sub.add_parser("catalogue", help="the catalogue as a Markdown table").set_defaults(fn=cmd_catalogue)
    show = sub.add_parser("show", help="a scenario's story, steps and expectations; or a run's ladder")
    show.add_argument("name", metavar="NAME|FILE|RUN_DIR")
    show.add_argument("--all", action="store_true", help="with RUN_DIR: also ARP")
    show.set_defaults(fn=cmd_show)
    report = sub.add_parser("report", help="write RUN_DIR/report.html: story, verdict and the TCP ladder")
    report.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    report.add_argument("--all", action="store_true", help="also draw ARP")
    report.set_defaults(fn=cmd_report)
    compare = sub.add_parser("compare", help="one matrix of outcomes by kernel from result files of any source")
    compare.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                         help="result.json files, folders of runs or archives of them (.tar.gz, .zip): each run once")
    compare.add_argument("--json", type=Path, metavar="FILE", help="also write the matrix as JSON")
    compare.add_argument("--html", type=Path, metavar="FILE", help="also write it as a static HTML page")
    compare.add_argument("--all", action="store_true", help="show every row, not only those that differ or fail")
    compare.set_defaults(fn=cmd_compare)
    said = sub.add_parser("words", help="each runtime's words for each outcome, from recorded runs")
    said.add_argument("paths", nargs="*", type=Path, default=[RUNS], metavar="PATH", help="runs (default: runs/)")
    said.add_argument("--grep", metavar="TEXT", help="only outcomes whose words contain TEXT (case-insensitive)")
    said.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")
    said.add_argument("--html", type=Path, metavar="FILE", help="also write it as a static HTML page")
    said.set_defaults(fn=cmd_words)
    matrix = sub.add_parser("matrix", help="the catalogue on Debian kernels booted in qemu, then one compare matrix")
    matrix.add_argument("kernels", nargs="+", metavar="KERNEL",
                        help='a Debian kernel: "5.10", "6.1", "6.12", "7.2" (the newest build of that series), '
                             'an upstream version or an exact release')
    matrix.add_argument("--names", nargs="+", metavar="NAME", help="only these scenarios (default: all)")
    matrix.add_argument("--out", type=Path, default=RUNS / "matrix", help="where each kernel's runs and the "
                        "compare page go (default: runs/matrix)")
    matrix.add_argument("--also", nargs="+", type=Path, default=[], metavar="PATH",
                        help="more result files or run folders for the compare (e.g. this host's runs)")
    matrix.add_argument("--all", action="store_true", help="print every row, not only those that differ or fail")
    matrix.add_argument("--runtime", action="append", choices=RUNTIMES, help="the guests' runtime (repeatable)")
    matrix.add_argument("--family", choices=(*FAMILIES, "both"), default="4",
                        help="the guests' hosts' address family: IPv4 (default), IPv6, or each")
    matrix.add_argument("--shard", type=shard, metavar="I/N", help="only the I-th of N disjoint shares of the cells")
    matrix.set_defaults(fn=cmd_matrix)
    sub.add_parser("images", help="build missing images").set_defaults(fn=cmd_images)
    clean = sub.add_parser("clean", help="remove what killed runs left")
    clean.add_argument("--all", action="store_true", help="also the runs of lab processes still running")
    clean.set_defaults(fn=cmd_clean)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    console = Console()
    interrupt_on_sigterm()
    try:
        return args.fn(args, console)
    except StepTimeout as exc:  # a set-up wait ran out (a capture that never listened): the run failed
        print(f"lab: the run failed: {exc}", file=sys.stderr)
        return 1
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lab: interrupted; the run's hosts were removed", file=sys.stderr)
        return 130


def program():
    """`lab` as a program: main(), after which a late Ctrl-C or SIGTERM changes nothing."""
    try:
        status = main()
    except KeyboardInterrupt:  # a second one while main was already finishing
        status = 130
    ignore_interrupts()
    return status
