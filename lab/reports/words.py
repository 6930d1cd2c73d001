"""The words each runtime gives a program for the same broken connection, from recorded runs.

Rows are the catalogue's outcomes as the kernel gives them (`recv → ECONNRESET`:
every step whose scenario expects a read to fail with ECONNRESET), columns the
runtimes, and a cell the exact words the programs in that runtime were given,
each with the run that showed them (its result.json and step). Only failures
and ends of stream are rows: a success has no words.

A program's words are the runtime's own text (PROTOCOL.md: `words`); c and
python also report libc's strerror, and an end of stream is the runtime's
way of saying it (`-1`, `EOF`, `end`; C and Python return 0, shown as such).
Node reads ahead in flowing mode (lab/agents/node/agent.js): where the kernel
held unread data, a Node program had already taken it, so its cell can show
another outcome than the row's.

`--grep TEXT` keeps the rows with TEXT in any cell, and lists the situations
(scenario, step) behind each, for a message pasted from a log.
"""

import json
from dataclasses import dataclass, field

from lab.calls import is_success
from lab.errors import ScenarioError
from lab.reports.page import document, join, tag
from lab.runtimes import NAMES
from lab.scenario import load as loader
from lab.scenario.model import parse_version


@dataclass(frozen=True)
class Sighting:
    words: str
    scenario: str
    step: int
    result: str          # the result.json that shows it


@dataclass
class Row:
    label: str                                   # "recv → ECONNRESET"
    cells: dict = field(default_factory=dict)    # runtime -> {words: Sighting (the first run that showed them)}

    def situations(self):
        return sorted({(s.scenario, s.step) for cell in self.cells.values() for s in cell.values()})


def said(event, outcome):
    """The words a program was given for this call's result."""
    if "words" in event:
        return event["words"]
    if "strerror" in event:
        return event["strerror"]
    if outcome == "EOF":
        return "0 (end of stream)"
    return str(outcome)


def kernel_outcomes(record, scenarios):
    """{step number: (call, the kernel's outcome the scenario expects)} for the record's scenario."""
    name = record.name
    if name not in scenarios:
        try:
            scenarios[name] = loader.load(loader.find(name))
        except ScenarioError:
            scenarios[name] = None  # a scenario file no longer here: its runs give no rows
    scenario = scenarios[name]
    if scenario is None:
        return {}
    kernel = parse_version(record.environment.get("kernel", "0"))
    return {s.number: (s.call, s.expect.for_kernel(kernel).outcomes) for s in scenario.steps if s.call}


def build(records):
    rows, scenarios = {}, {}
    for record in records:
        if record.skipped or record.verdict is None:
            continue
        calls = kernel_outcomes(record, scenarios)
        hosts = {s.number: s.host for s in record.verdict.steps}
        for o in record.observations:
            call, expected = calls.get(o.number, (None, ()))
            if call is None or all(e != "EOF" and is_success(e) for e in expected):
                continue
            runtime = record.runtimes.get(hosts[o.number], {}).get("runtime", "python")
            label = f"{call} → {' or '.join(map(str, expected))}"
            sighting = Sighting(said(o.event, o.outcome), record.name, o.number, str(record.directory / "result.json"))
            cell = rows.setdefault(label, Row(label)).cells.setdefault(runtime, {})
            cell.setdefault(sighting.words, sighting)
    return dict(sorted(rows.items()))


def grep(rows, text):
    needle = text.lower()
    return {k: r for k, r in rows.items()
            if any(needle in words.lower() for cell in r.cells.values() for words in cell)}


def as_json(rows):
    return json.dumps({"runtimes": list(NAMES), "rows": [
        {"row": r.label, "situations": [list(s) for s in r.situations()],
         "cells": {rt: [{"words": w, "scenario": s.scenario, "step": s.step, "result": s.result}
                        for w, s in r.cells.get(rt, {}).items()] for rt in NAMES}}
        for r in rows.values()]}, indent=2)


def as_html(rows):
    head = tag("tr", tag("th", "outcome (kernel)"), *(tag("th", rt) for rt in NAMES))
    body = []
    for r in rows.values():
        cells = [tag("td", join([tag("a", w, href=s.result, title=f"{s.scenario} step {s.step}")
                                 for w, s in r.cells.get(rt, {}).items()], tag("br")) or "—") for rt in NAMES]
        body.append(tag("tr", tag("td", r.label), *cells))
    return document("tcp-fault-lab: words", tag("h1", "What each runtime tells the program"),
                    tag("p", "Each cell links the run that showed those words."), tag("table", head, "\n", join(body)))
