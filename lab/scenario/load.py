"""YAML → schema → Scenario, refusing anything doubtful with one line: file:line: what, allowed.

YAML is read with the safe loader only: a scenario is data, naming the
agent's calls and the declared faults, and can run nothing else.

    >>> load_text("name: x\\n", "x.yaml")
    Traceback (most recent call last):
    ...
    lab.errors.ScenarioError: x.yaml:1: missing 'summary' (required: name, summary, story, hosts, steps, packets)
"""

import errno
import json
import signal
from pathlib import Path

import jsonschema
import yaml

from lab.errors import ScenarioError
from lab.scenario.model import Expect, HostOptions, KernelCount, KernelExpect, Scenario, Step, WireRule
from lab.sockops import SOCKET_OPTIONS, TCP_STATES

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SCHEMA = json.loads((Path(__file__).parent / "schema.json").read_text())

KIND_ARGS = {  # the arguments each step kind takes; * marks the required ones
    ("call", "listen"): ["port*", "backlog", "sock", "options"],
    ("call", "accept"): ["sock", "listener"],
    ("call", "connect"): ["to*", "port*", "sock", "options"],
    ("call", "send"): ["sock", "bytes"],
    ("call", "recv"): ["sock", "bytes"],
    ("call", "sendall"): ["bytes*", "sock"],
    ("call", "recvall"): ["bytes*", "sock"],
    ("call", "shutdown"): ["sock", "how"],
    ("call", "close"): ["sock"],
    ("call", "setsockopt"): ["option*", "value*", "sock"],
    ("call", "exit"): [],
    ("wait", "state"): ["state*", "sock"],
    ("wait", "acked"): ["sock"],
    ("wait", "exit"): [],
    ("fault", "kill"): ["signal"],
    ("fault", "drop"): ["peer", "port", "syn", "probability"],
    ("fault", "reject"): ["with", "peer", "port", "syn"],
    ("fault", "partition"): ["peer*"],
    ("fault", "rate"): ["rate*", "burst", "latency"],
    ("fault", "netem"): ["delay", "loss"],
    ("fault", "stop"): [],
    ("fault", "start"): [],
    ("fault", "restart"): [],
    ("fault", "pause"): [],
    ("fault", "disconnect"): [],
    ("fault", "heal"): ["of*"],
}
COMMON = {"host", "call", "wait", "fault", "id", "timeout", "expect", "why", "kernels"}
NAMED_OUTCOMES = {"EOF", "ok", "TIMEOUT"}
STATES = set(TCP_STATES) - {None}


def known_names():
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def path_for(name):
    path = SCENARIOS / f"{name}.yaml"
    if not path.is_file():
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(known_names())}")
    return path


def load(path):
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return load_text(text, str(path), expected_name=path.stem)


def line_of(node, where):
    """The 1-based YAML line of the value at `where` (a path of keys and indexes);
    for a mapping entry, the line of its key."""
    line = node.start_mark.line
    for key in where:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == key]
            if not match:
                break
            line, node = match[0][0].start_mark.line, match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line
        else:
            break
    return line + 1


def duplicate_key(node):
    """(line, key) of the first key given twice in any mapping, or None."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if key.value in seen:
                return key.start_mark.line + 1, key.value
            seen.add(key.value)
        children = [v for _, v in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        return None
    return next((found for child in children if (found := duplicate_key(child))), None)


def schema_error_path(err):
    """Where to point: an unknown key's own line rather than its mapping's."""
    where = list(err.absolute_path)
    if err.validator == "additionalProperties":
        unknown = [k for k in err.instance if k not in err.schema.get("properties", {})]
        where.append(unknown[0])
    return where


def describe_schema_error(err):
    if err.validator == "required":
        missing = err.message.split("'")[1]
        return f"missing {missing!r} (required: {', '.join(err.validator_value)})"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        unknown = sorted(str(k) for k in err.instance if k not in allowed)
        return f"unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    if err.validator == "oneOf":
        key = err.absolute_path[-1] if err.absolute_path else "value"
        enums = [v for alt in err.validator_value for v in alt.get("enum", [])]
        if enums:
            return f"{err.instance!r} is not a valid {key} (allowed: {', '.join(enums)})"
        return f"{err.instance!r} is not a valid {key} ({SCHEMA['$defs']['outcome']['description']})"
    return err.message


class Loader:
    """Turns one parsed document into a Scenario; every complaint is `file:line: ...`."""

    def __init__(self, source, root):
        self.source = source
        self.root = root

    def fail(self, where, message):
        raise ScenarioError(f"{self.source}:{line_of(self.root, where)}: {message}")

    def step_fail(self, i, raw, key, message):
        what = raw.get("call") or raw.get("wait") or raw.get("fault") or "?"
        self.fail(["steps", i, key] if key in raw else ["steps", i],
                  f"step {i + 1} ({raw.get('host', '?')} {what}): {message}")

    def outcomes(self, value, where):
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, int) or v in NAMED_OUTCOMES or v in STATES:
                continue
            if v.startswith("E") and v in errno.errorcode.values():
                continue
            if v.startswith("SIG") and v in signal.Signals.__members__:
                continue
            prefix = f"step {where[1] + 1}: " if where[0] == "steps" else ""
            self.fail(where, f"{prefix}unknown outcome {v!r} (allowed: a byte count, EOF, ok, TIMEOUT, "
                             "an errno name such as ECONNRESET, a signal name such as SIGPIPE, a TCP state)")
        return tuple(values)

    def expect(self, raw, where):
        if "expect" not in raw:
            for key in ("why", "kernels"):
                if key in raw:
                    self.fail(where + [key], f"step {where[1] + 1}: {key} explains an expect; add expect")
            return Expect()
        kernels = tuple(
            KernelExpect(k["range"], self.outcomes(k["expect"], where + ["kernels", j, "expect"]), k["why"])
            for j, k in enumerate(raw.get("kernels", []))
        )
        return Expect(self.outcomes(raw["expect"], where + ["expect"]), raw.get("why", ""), kernels)

    def step(self, i, raw, hosts):
        kinds = [k for k in ("call", "wait", "fault") if k in raw]
        if len(kinds) != 1:
            self.step_fail(i, raw, "host", "needs exactly one of call, wait, fault")
        kind = kinds[0]
        spec = KIND_ARGS[(kind, raw[kind])]
        allowed = {a.rstrip("*") for a in spec}
        for key in raw:
            if key not in COMMON and key not in allowed:
                self.step_fail(i, raw, key, f"{kind} {raw[kind]} does not take {key!r} "
                                            f"(it takes: {', '.join(sorted(allowed)) or 'nothing'})")
        for a in spec:
            if a.endswith("*") and a[:-1] not in raw:
                self.step_fail(i, raw, kind, f"{kind} {raw[kind]} needs {a[:-1]!r}")
        if raw["host"] not in hosts:
            self.step_fail(i, raw, "host", f"unknown host {raw['host']!r} (hosts: {', '.join(hosts)})")
        for key in ("to", "peer"):
            if key in raw and raw[key] not in hosts:
                self.step_fail(i, raw, key, f"unknown host {raw[key]!r} (hosts: {', '.join(hosts)})")
        for name in list(raw.get("options", {})) + ([raw["option"]] if "option" in raw else []):
            if name not in SOCKET_OPTIONS:
                self.step_fail(i, raw, "options" if "options" in raw else "option",
                               f"unknown socket option {name!r} (allowed: {', '.join(SOCKET_OPTIONS)})")
        if "state" in raw:
            self.outcomes(raw["state"], ["steps", i, "state"])
        if "expect" in raw and kind != "call" and (kind, raw[kind]) != ("wait", "exit"):
            self.step_fail(i, raw, "expect", "only calls and wait exit take expect; a wait passes when its condition is met")
        args = {k: v for k, v in raw.items() if k in allowed}
        return Step(number=i + 1, line=line_of(self.root, ["steps", i]), host=raw["host"],
                    args=args, expect=self.expect(raw, ["steps", i]), id=raw.get("id"),
                    timeout=float(raw.get("timeout", 5.0)), **{kind: raw[kind]})

    def rule(self, i, raw, hosts, labels, sockets):
        where = ["packets", i]
        for key in ("from", "to"):
            if key in raw and raw[key] not in hosts:
                self.fail(where + [key], f"packet rule {i + 1}: unknown host {raw[key]!r} (hosts: {', '.join(hosts)})")
        if "after" in raw and str(raw["after"]) not in labels:
            self.fail(where + ["after"], f"packet rule {i + 1}: no step {raw['after']!r} (steps: 1..{len(labels)} or an id)")
        if "sock" in raw and raw["sock"] not in sockets:
            self.fail(where + ["sock"], f"packet rule {i + 1}: no connection named {raw['sock']!r} "
                                        f"(named: {', '.join(sorted(sockets)) or 'none'})")
        low, high = self.bounds(raw, where, f"packet rule {i + 1}")
        kernels = tuple(KernelCount(k["range"], *self.bounds(k, where + ["kernels", j], f"packet rule {i + 1}"),
                                    k["why"]) for j, k in enumerate(raw.get("kernels", [])))
        flags = raw.get("flags", [])
        return WireRule(line=line_of(self.root, where), why=raw["why"], src=raw.get("from"), dst=raw.get("to"),
                        icmp=raw.get("icmp"), arp=raw.get("arp"), retransmission=raw.get("retransmission"),
                        flags=tuple([flags] if isinstance(flags, str) else flags), sock=raw.get("sock"),
                        after=None if "after" not in raw else str(raw["after"]), data=raw.get("data"),
                        min=low, max=high, kernels=kernels)

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
        for name, opts in hosts.items():
            if opts.via is not None and (opts.via not in hosts or not hosts[opts.via].router):
                self.fail(["hosts", name, "via"], f"host {name}: via {opts.via!r} must name a host with router: true")
        steps = tuple(self.step(i, raw, hosts) for i, raw in enumerate(doc["steps"]))
        ids = []
        for s in steps:
            if s.id in ids:
                self.fail(["steps", s.number - 1, "id"], f"step {s.number}: id {s.id!r} is used twice")
            ids += [s.id] if s.id else []
        for s in steps:
            if s.fault == "heal":
                target = next((t for t in steps[:s.number - 1] if t.id == s.args["of"]), None)
                if target is None or not target.fault or target.fault == "heal":
                    self.fail(["steps", s.number - 1, "of"],
                              f"step {s.number}: heal needs the id of an earlier fault step, not {s.args['of']!r}")
        labels = {str(s.number) for s in steps} | set(ids)
        sockets = {s.args.get("sock", "conn") for s in steps if s.call in ("connect", "accept")}
        packets = tuple(self.rule(i, raw, hosts, labels, sockets) for i, raw in enumerate(doc["packets"]))
        return Scenario(name=doc["name"], path=self.source, summary=doc["summary"].strip(),
                        story=doc["story"].strip(), hosts=hosts, steps=steps, packets=packets)


def integral(value):
    """JSON Schema takes 7000.0 for an integer; make it one (bools stay bools)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def load_text(text, source, expected_name=None):
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise ScenarioError(f"{source}:{line}: not valid YAML: {problem}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}:1: a scenario is a mapping with keys "
                            f"{', '.join(SCHEMA['required'])}")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if (dup := duplicate_key(root)) is not None:
        raise ScenarioError(f"{source}:{dup[0]}: key {dup[1]!r} is given twice")
    if errors:
        err = errors[0]
        where = schema_error_path(err)
        prefix = f"step {where[1] + 1}: " if where[:1] == ["steps"] and len(where) > 1 else ""
        raise ScenarioError(f"{source}:{line_of(root, where)}: {prefix}{describe_schema_error(err)}")
    return Loader(source, root).scenario(integral(doc), expected_name)
