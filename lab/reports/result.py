"""Write a run's directory: runs/<UTC time>-<name>/ with result.json, pcaps, agent logs.

The directory is opened before the run with a result.json that says
`"complete": false`; only a finished run replaces it (atomically) with the
full record. A run killed half-way leaves a directory marked incomplete,
never one that could be taken for a result.

result.json is the record other tools read: the scenario, the environment
(kernel, engine, image ids), timings, every observation with its raw agent
event, every packet rule with the packets that matched, and the verdict.
"""

import json
from datetime import datetime, timezone

from lab.cell import Cell, runtime_label
from lab.scenario.model import parse_version
from lab.wire import summarize

FORMAT = 1


def open_run(root, scenario, run_id):
    """Create the run's directory, marked incomplete until `write` completes it."""
    path = run_directory(root, scenario.name)
    write_json(path / "result.json", {
        "format": FORMAT, "complete": False, "run_id": run_id,
        "scenario": {"name": scenario.name, "path": scenario.path, "summary": scenario.summary},
        "started": datetime.now(timezone.utc).isoformat(),
    })
    return path


def write_json(path, data):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader sees the old file or the new one, never half of one


def run_directory(root, name):
    root.mkdir(parents=True, exist_ok=True)
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    for n in range(1, 1000):
        path = root / (f"{stamp}-{name}" if n == 1 else f"{stamp}-{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{root}: too many runs of {name} within one second")


def cell(result):
    hosts = {name: opts.runtime for name, opts in result.scenario.hosts.items()}
    return Cell(result.scenario.name, runtime_label(hosts), result.family, result.env["kernel"])


def record(result):
    v = result.verdict
    return {
        "format": FORMAT,
        "complete": True,
        "run_id": result.run_id,
        "cell": cell(result).as_dict(),
        "scenario": {"name": result.scenario.name, "path": result.scenario.path,
                     "summary": result.scenario.summary, "story": result.scenario.story,
                     "hosts": list(result.scenario.hosts)},
        "environment": {**result.env, "kernel_version": list(parse_version(result.env["kernel"]))},
        # each host's runtime as the scenario set it, and as its agent described itself
        "runtimes": {name: {"runtime": opts.runtime, **result.runtimes.get(name, {})}
                     for name, opts in result.scenario.hosts.items()},
        "timings": result.timings,
        # containers share the machine's kernel, so calls and packets have one clock
        "clock": {"source": "CLOCK_REALTIME", "alignment": "shared kernel clock", "uncertainty_s": 0.0},
        "addresses": result.addresses,
        "counters": result.counters,
        "observations": [
            {"step": o.number, "outcome": o.outcome, "start": o.start, "end": o.end, "event": o.event}
            for o in result.observations
        ],
        "packets": {host: [s.as_dict() for s in segs] for host, segs in result.segments.items()},
        "wire": {host: summarize(segs, result.addresses) for host, segs in result.segments.items()},
        "verdict": {
            "status": "skipped" if result.skipped else ("passed" if v.passed else "failed"),
            "skipped": result.skipped,
            "passed": v.passed and not result.skipped,
            "steps": [s.as_dict() for s in v.steps],
            "rules": [r.as_dict() for r in v.rules],
            "evidence": [e.as_dict() for e in v.evidence],
            "unhealed": list(v.unhealed),
        },
        "files": {"pcaps": [f"{h}.pcap" for h in result.pcaps],
                  "agent_logs": [f"agent-{h}.jsonl" for h in result.agent_logs]},
    }


def write(result, path):
    """Complete the run directory `path` (from open_run) with the run's files and record."""
    for host, pcap in result.pcaps.items():
        (path / f"{host}.pcap").write_bytes(pcap)
    for host, log in result.agent_logs.items():
        (path / f"agent-{host}.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in log))
    write_json(path / "result.json", record(result))
    result.directory = path
    return path
