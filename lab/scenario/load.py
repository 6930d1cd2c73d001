"""YAML → schema → Scenario, refusing anything doubtful with one line: file:line: what, allowed.

YAML is read with the safe loader only: a scenario is data, naming the
agent's calls and the declared faults, and can run nothing else.

The schema (generated from the step kinds' declarations, see kinds.py)
checks each step's keys and values; a refused step is explained in its
kind's words ("call exit does not take 'port' (it takes: nothing)").
What is left here is what a schema cannot see: names that must exist in
the document (hosts, step ids, sockets), counts, the file's name.
A scenario is a catalogue name (scenarios/NAME.yaml) or any file's path.

    >>> load_text("name: x\\n", "x.yaml")
    Traceback (most recent call last):
    ...
    lab.errors.ScenarioError: x.yaml:1: missing 'summary' (required: name, summary, story, hosts, steps, packets)
"""

import functools
from pathlib import Path

import yaml

from lab import faults
from lab.errors import ScenarioError
from lab.scenario import messages, schema, validated
from lab.scenario.calls import CALLS, WAITS
from lab.scenario.kinds import FAMILIES, OUTCOME_KEYS, UNOWNED, Kinds
from lab.scenario.model import (Expect, FamilyExpect, FamilyRule, HostOptions, KernelCount, KernelExpect,
                                RuntimeCount, RuntimeExpect, Scenario, Step, WireRule)
from lab.scenario.nodes import duplicate_key, line_of, parse
from lab.scenario.windows import backwards, window

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
PACKET_KEYS = {"from", "to", "flags", "sock", "after", "data", "payload", "icmp", "arp", "nd", "retransmission", "family"}
KINDS = Kinds(CALLS + WAITS + faults.KINDS)  # every step kind, each declared once


@functools.cache
def schema_of(kinds):
    return schema.generate(kinds)


@functools.cache
def validator(kinds):
    """jsonschema is imported only for a text the validated cache does not know: its import was a
    tenth of each catalogue process's start (0.07 s here; 0.35 s in a guest under TCG)."""
    import jsonschema
    return jsonschema.Draft202012Validator(schema_of(kinds))


def known_names():
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def path_for(name):
    path = SCENARIOS / f"{name}.yaml"
    if not path.is_file():
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(known_names())}")
    return path


def find(name_or_path):
    """A scenario file's path: given as one (it has a / or ends in .yaml), or a catalogue name."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        return Path(name_or_path)
    return path_for(name_or_path)


def load(path, kinds=KINDS):
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return load_text(text, str(path), expected_name=path.stem, kinds=kinds)


def entries(raw):
    """A step or rule and each of its kernels and families entries (and theirs): where a window may be."""
    return [raw, *raw.get("kernels", []), *(e for f in raw.get("families", []) for e in [f, *f.get("kernels", [])])]


class Loader:
    """Turns one parsed document into a Scenario; every complaint is `file:line: ...`."""

    def __init__(self, source, root, kinds):
        self.source = source
        self.root = root
        self.kinds = kinds

    def fail(self, where, message):
        raise ScenarioError(f"{self.source}:{line_of(self.root, where)}: {message}")

    def step_fail(self, i, raw, key, message):
        what = raw.get("call") or raw.get("wait") or raw.get("fault") or "?"
        self.fail(["steps", i, key] if key in raw else ["steps", i],
                  f"step {i + 1} ({raw.get('host', '?')} {what}): {message}")

    def shape(self, i, raw):
        """Say in the kind's words why the schema refused step i's keys, if that is why."""
        if not isinstance(raw, dict):
            return
        family = [f for f in FAMILIES if f in raw]
        if len(family) != 1:
            self.step_fail(i, raw, "host", f"needs exactly one of {', '.join(FAMILIES)}")
        family = family[0]
        kind = self.kinds.get(family, raw[family]) if isinstance(raw[family], str) else None
        if kind is None:
            return  # not a kind at all: the schema's message lists the kinds
        what = f"{family} {kind.name}"
        for key in raw:
            if key not in kind.keys and key not in OUTCOME_KEYS:
                self.step_fail(i, raw, key, f"{what} does not take {key!r} "
                                            f"(it takes: {', '.join(sorted(kind.takes)) or 'nothing'})")
        for name in kind.needs:
            if name not in raw:
                self.step_fail(i, raw, family, f"{what} needs {name!r}")
        for key in OUTCOME_KEYS:
            if key in raw and not kind.outcome:
                self.step_fail(i, raw, key, f"only {self.kinds.with_outcome()} take {key}; "
                                            "a wait passes when its condition is met, a fault when it is in place")
            if key in raw and key != "expect" and "expect" not in raw:
                self.step_fail(i, raw, key, f"{key} explains an expect; add expect")

    def expect(self, raw):
        """An entry (kernels, families) without expect keeps the step's outcomes; without seconds, its time."""
        def outcomes(entry, default):
            value = entry.get("expect", default)
            return tuple(value if isinstance(value, list) else [value])

        def kernels(entry, default):
            return tuple(KernelExpect(k["range"], outcomes(k, default), k["why"], window(k.get("seconds")))
                         for k in entry.get("kernels", []))
        if "expect" not in raw:
            return Expect(seconds=window(raw.get("seconds")))
        runtimes = tuple(RuntimeExpect(r["runtime"], outcomes(r, []), r["why"], r.get("words"),
                                       r.get("host"), window(r.get("seconds"))) for r in raw.get("runtimes", []))
        families = tuple(FamilyExpect(str(f["family"]), outcomes(f, raw["expect"]), f["why"],
                                      kernels(f, f.get("expect", raw["expect"])), window(f.get("seconds")))
                         for f in raw.get("families", []))
        return Expect(outcomes(raw, None), raw.get("why", ""), kernels(raw, raw["expect"]), runtimes, families,
                      window(raw.get("seconds")))

    def step(self, i, raw, hosts):
        """A step the schema took; what is left to check is that the hosts it names exist."""
        family = next(f for f in FAMILIES if f in raw)
        kind = self.kinds.get(family, raw[family])
        for key in ["host", *kind.hosts]:
            if key in raw and raw[key] not in hosts and not (key in kind.targets and raw[key] == UNOWNED):
                self.step_fail(i, raw, key, f"unknown host {raw[key]!r} (hosts: {', '.join(hosts)})")
        for entry in raw.get("runtimes", []):
            if entry.get("host", raw["host"]) not in hosts:
                self.step_fail(i, raw, "runtimes", f"a runtimes entry names unknown host {entry['host']!r}")
        if any(backwards(e.get("seconds")) for e in entries(raw) + raw.get("runtimes", [])):
            self.step_fail(i, raw, "seconds", "a seconds window's max is below its min")
        return Step(number=i + 1, line=line_of(self.root, ["steps", i]), host=raw["host"],
                    args={k: v for k, v in raw.items() if k in kind.takes}, expect=self.expect(raw),
                    id=raw.get("id"), timeout=float(raw.get("timeout", 5.0)), **{family: raw[family]})

    def rule(self, i, raw, hosts, labels, sockets):
        where = ["packets", i]
        for key in ("from", "to"):
            if key in raw and raw[key] not in (*hosts, UNOWNED):
                self.fail(where + [key], f"packet rule {i + 1}: unknown host {raw[key]!r} "
                                         f"(hosts: {', '.join(hosts)}; or {UNOWNED})")
        if "after" in raw and str(raw["after"]) not in labels:
            self.fail(where + ["after"], f"packet rule {i + 1}: no step {raw['after']!r} (steps: 1..{len(labels)} or an id)")
        if "sock" in raw and raw["sock"] not in sockets:
            self.fail(where + ["sock"], f"packet rule {i + 1}: no connection named {raw['sock']!r} "
                                        f"(named: {', '.join(sorted(sockets)) or 'none'})")
        mixed = sorted(set(raw) & PACKET_KEYS) if "counter" in raw else []
        bad_at = ("counter" in raw) != ("at" in raw) or raw.get("at", next(iter(hosts))) not in hosts
        if mixed or bad_at:
            self.fail(where + [(mixed or ["at"])[0]], f"packet rule {i + 1}: a counter rule reads `counter` at "
                      f"a host (`at`: {', '.join(hosts)}) and counts no packets (no {', '.join(sorted(PACKET_KEYS))})")
        if any("within" in e for e in entries(raw)) and "after" not in raw or any(backwards(e.get("within")) for e in entries(raw)):
            self.fail(where + ["within"], f"packet rule {i + 1}: within is seconds after the `after` step's start: "
                                          "it needs after, and its max may not be below its min")
        low, high = self.bounds(raw, where, f"packet rule {i + 1}")
        kernels = tuple(KernelCount(k["range"], *self.bounds(k, where + ["kernels", j], f"packet rule {i + 1}"),
                                    k["why"], window(k.get("within"))) for j, k in enumerate(raw.get("kernels", [])))
        runtimes = []
        for j, r in enumerate(raw.get("runtimes", [])):
            host = r.get("host", raw.get("from", raw.get("to")))
            if host not in hosts:
                self.fail(where + ["runtimes", j], f"packet rule {i + 1}: a runtimes entry needs a host "
                                                   f"(hosts: {', '.join(hosts)})")
            runtimes.append(RuntimeCount(r["runtime"], host, *self.bounds(r, where + ["runtimes", j],
                                                                         f"packet rule {i + 1}"), r["why"]))
        families = []
        for j, f in enumerate(raw.get("families", [])):
            changes = {k: f[k] for k in ("icmp", "arp", "nd") if k in f}
            if "arp" in raw and "nd" in f:
                changes["arp"] = None   # neighbour discovery in place of ARP
            if any(k in f for k in ("count", "min", "max")):
                changes["min"], changes["max"] = self.bounds(f, where + ["families", j], f"packet rule {i + 1}")
            if "within" in f:
                changes["within"] = window(f["within"])
            own = tuple(KernelCount(k["range"], *self.bounds(k, where + ["families", j, "kernels", n],
                                                             f"packet rule {i + 1}"), k["why"], window(k.get("within")))
                        for n, k in enumerate(f.get("kernels", [])))   # not `kernels`: the rule's own are read above
            families.append(FamilyRule(str(f["family"]), changes, f["why"], own))
        flags = raw.get("flags", [])
        return WireRule(line=line_of(self.root, where), why=raw["why"], src=raw.get("from"), dst=raw.get("to"),
                        icmp=raw.get("icmp"), arp=raw.get("arp"), nd=raw.get("nd"),
                        family=None if "family" not in raw else str(raw["family"]),
                        counter=raw.get("counter"), at=raw.get("at"),
                        retransmission=raw.get("retransmission"),
                        flags=tuple([flags] if isinstance(flags, str) else flags), sock=raw.get("sock"),
                        after=None if "after" not in raw else str(raw["after"]), data=raw.get("data"),
                        within=window(raw.get("within")), payload=window(raw.get("payload")),
                        min=low, max=high, kernels=kernels, runtimes=tuple(runtimes), families=tuple(families),
                        id=raw.get("id"))

    def bounds(self, raw, where, what):
        """(min, max) from count, or min/max: none means "at least one", a max alone "at most max"."""
        if "count" in raw and ("min" in raw or "max" in raw):
            self.fail(where + ["count"], f"{what}: give count, or min/max, not both")
        low = raw.get("count", raw.get("min", 0 if "max" in raw else 1))
        high = raw.get("count", raw.get("max"))
        if high is not None and high < low:
            self.fail(where, f"{what}: max {high} is below min {low}")
        return low, high

    def scenario(self, doc, expected_name):
        if expected_name and doc["name"] != expected_name:
            self.fail(["name"], f"name {doc['name']!r} must match the file name {expected_name!r}")
        hosts = {name: HostOptions(**(opts or {})) for name, opts in doc["hosts"].items()}
        if UNOWNED in hosts:
            self.fail(["hosts", UNOWNED], f"no host may be called {UNOWNED!r}: it names an address no host owns")
        for name, opts in hosts.items():
            if opts.via is not None and (opts.via not in hosts or not hosts[opts.via].router):
                self.fail(["hosts", name, "via"], f"host {name}: via {opts.via!r} must name a host with router: true")
        steps = tuple(self.step(i, raw, hosts) for i, raw in enumerate(doc["steps"]))
        ids = [s.id for s in steps if s.id]
        for s in steps:
            if s.fault == "heal":
                target = next((t for t in steps[:s.number - 1] if t.id == s.args["of"]), None)
                if target is None or not target.fault or target.fault == "heal":
                    self.fail(["steps", s.number - 1, "of"],
                              f"step {s.number}: heal needs the id of an earlier fault step, not {s.args['of']!r}")
        labels = {str(s.number) for s in steps} | set(ids)
        sockets = {s.args.get("sock", "conn") for s in steps if s.call in ("connect", "accept")}
        packets = tuple(self.rule(i, raw, hosts, labels, sockets) for i, raw in enumerate(doc["packets"]))
        seen = set()   # step and rule ids share one namespace: a text's [tag] names either
        for where, what, id_ in [(["steps", s.number - 1, "id"], f"step {s.number}", s.id) for s in steps] + [
                (["packets", r, "id"], f"packet rule {r + 1}", rule.id) for r, rule in enumerate(packets)]:
            if id_ in seen:
                self.fail(where, f"{what}: id {id_!r} is used twice")
            seen |= {id_} - {None}
        family = doc.get("family", {"only": [4, 6], "why": ""})
        families = tuple(str(f) for f in family["only"])
        return Scenario(name=doc["name"], path=self.source, summary=doc["summary"].strip(),
                        story=doc["story"].strip(), hosts=hosts, steps=steps, packets=packets,
                        families=families, family_why=family["why"])


def integral(value):
    """JSON Schema takes 7000.0 for an integer; make it one (bools stay bools)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def load_text(text, source, expected_name=None, kinds=KINDS):
    try:
        root, doc = parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise ScenarioError(f"{source}:{line}: not valid YAML: {problem}") from None
    required = schema_of(kinds)["required"]
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}:1: a scenario is a mapping with keys {', '.join(required)}")
    known = validated.passed(schema_of(kinds), text)
    errors = [] if known else sorted(validator(kinds).iter_errors(doc),
                                     key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if (dup := duplicate_key(root)) is not None:
        raise ScenarioError(f"{source}:{dup[0]}: key {dup[1]!r} is given twice")
    loader = Loader(source, root, kinds)
    if errors:
        err = errors[0]
        where = messages.where(err)
        in_step = where[:1] == ["steps"] and len(where) > 1 and isinstance(where[1], int)
        if in_step:
            loader.shape(where[1], doc["steps"][where[1]])
        prefix = f"step {where[1] + 1}: " if in_step else ""
        raise ScenarioError(f"{source}:{line_of(root, where)}: {prefix}{messages.describe(err)}")
    if not known:
        validated.remember(schema_of(kinds), text)
    return loader.scenario(integral(doc), expected_name)
