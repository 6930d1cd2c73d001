"""The scenario JSON Schema, generated: the document's frame here, every step kind from its declaration.

The loader validates against `generate(kinds)` for the kinds it loads with;
schema.json is the same for the lab's own kinds, committed for editors
(a test fails when it is stale). Rewrite it with `make schema`, i.e.

    python -m lab.scenario.schema

A step's schema is one closed branch per kind (if `call: listen`, then only
listen's arguments), so the schema refuses `{call: exit, port: 1}` as the
loader does. What no JSON Schema can say is left to the loader: that a
named host, step id or socket exists in this document, counts that
contradict each other, a file name that matches `name`.
"""

import json
import sys
from pathlib import Path

from lab.packets import ICMP6_NAMES, ICMP_NAMES
from lab.runtimes import NAMES as RUNTIME_NAMES
from lab.scenario.calls import OUTCOME_NAMES, OUTCOME_WORDS
from lab.scenario.kinds import COMMON, FAMILIES, OUTCOME_KEYS
from lab.scenario.windows import WINDOW

PATH = Path(__file__).with_name("schema.json")
FLAGS = ["SYN", "ACK", "FIN", "RST", "PSH"]
ICMP = [*ICMP_NAMES.values(), *ICMP6_NAMES.values()]   # IPv6's are named icmp6-...
RANGE = r"\s*(>=|<=|==|>|<)\s*[0-9]+(\.[0-9]+){0,2}\s*"
COUNT = {"type": "integer", "minimum": 0}
WHY = {"type": "string", "minLength": 1}

HOST_OPTIONS = {
    "sigpipe": {"enum": ["ignore", "default"],
                "description": "default: a write to a reset socket kills the agent with SIGPIPE."},
    "capture": {"type": "boolean", "description": "Run tcpdump beside this host (default true; false for a "
                                                  "host a fault stops or restarts)."},
    "router": {"type": "boolean", "description": "This host forwards packets between the others (ip_forward on, "
               "no redirects); a drop or reject on it sits on its FORWARD chain, as a firewall in the path."},
    "via": {"type": "string", "description": "Reach every other host through this router (host routes), so a "
                                             "fault on the router sits in the path."},
    "runtime": {"enum": list(RUNTIME_NAMES), "description": "The runtime this host's program is written in "
                "(lab/runtimes.py); without it, the run's (--runtime, default python)."},
}
RUNTIME_WHY = {**WHY, "description": "Why this runtime differs: its source (file and function) and the range "
                                     "measured over >= 10 runs."}

FAMILY_WHY = {**WHY, "description": "Why this family differs: the kernel function that maps it (net/ipv6/... "
                                    "and its IPv4 counterpart) and the range measured over >= 10 runs."}

SECONDS = {**WINDOW, "description": "How long the step takes (its end - start, in seconds) must lie in this window: "
           "{min: 2.9, max: 3.5} or \"2.9-3.5\". Measured over >= 10 runs on both backends and families."}
ONE_OF_THEM = {"anyOf": [{"required": ["expect"]}, {"required": ["seconds"]}]}   # an entry without expect keeps the step's
STEP_KERNELS = {"type": "array", "description": "Outcomes (or times) that differ on some kernels; the first matching "
                "range wins; an entry without seconds keeps the step's, one without expect the step's outcomes.",
                "items": {"type": "object", "additionalProperties": False, "required": ["range", "why"],
                          **ONE_OF_THEM,
                          "properties": {"range": {"$ref": "#/$defs/range"}, "expect": {"$ref": "#/$defs/outcomes"},
                                         "seconds": SECONDS, "why": {"type": "string"}}}}

ID = {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"}

STEP_KEYS = {  # what every step may have, beside its kind and that kind's arguments
    "host": {"type": "string", "description": "The host this step happens on."},
    "id": {**ID, "description": "A name packet rules (after:), heal (of:) and the texts' [tags] can refer to."},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600,
                "description": "Seconds before the step is a TIMEOUT (default 5)."},
    "seconds": SECONDS,
    "expect": {"$ref": "#/$defs/outcomes"},
    "why": {"type": "string", "description": "Why this outcome: the kernel path or man page."},
    "kernels": STEP_KERNELS,
    "families": {"type": "array", "description": "What the step sees over one address family where it differs "
                 "from the other (wins over kernels).",
                 "items": {"type": "object", "additionalProperties": False, "required": ["family", "why"],
                           **ONE_OF_THEM,
                           "properties": {"family": {"enum": [4, 6]}, "expect": {"$ref": "#/$defs/outcomes"},
                                          "seconds": SECONDS, "why": FAMILY_WHY, "kernels": STEP_KERNELS}}},
    "runtimes": {"type": "array", "description": "What a runtime's program sees where it differs from the kernel's "
                 "outcome: another outcome (expect), or the exact words of a failure it gives no errno for.",
                 "items": {"type": "object", "additionalProperties": False, "required": ["runtime", "why"],
                           "oneOf": [{"required": ["expect"]}, {"required": ["words"]}],
                           "properties": {"runtime": {"enum": list(RUNTIME_NAMES)},
                                          "host": {"type": "string", "description": "Whose runtime: by "
                                                   "default the step's own host's."},
                                          "expect": {"$ref": "#/$defs/outcomes"}, "seconds": SECONDS,
                                          "words": {"type": "string", "minLength": 1}, "why": RUNTIME_WHY}}},
}

RULE_KERNELS = {"type": "array", "description": "Counts that differ on some kernels; the first matching range wins.",
                "items": {"type": "object", "additionalProperties": False, "required": ["range", "why"],
                          "properties": {"range": {"$ref": "#/$defs/range"}, "count": COUNT, "min": COUNT,
                                         "max": COUNT, "within": {"$ref": "#/$defs/within"},
                                         "why": {**WHY, "description": (
                                             "What the packets prove on these kernels, and the kernel change "
                                             "behind the difference.")}}}}

RULE = {
    "type": "object", "additionalProperties": False, "required": ["why"],
    "properties": {
        "id": {**ID, "description": "A name the texts' [tags] can refer to; unique among the step and rule ids."},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "flags": {"oneOf": [{"enum": FLAGS}, {"type": "array", "items": {"enum": FLAGS}}]},
        "sock": {"type": "string", "description": "Only the connection of this named socket."},
        "after": {"type": ["string", "integer"], "description": "A step id or number: only packets from its start on."},
        "within": {"$ref": "#/$defs/within"},
        "data": {"type": "boolean"},
        "payload": {"type": "object", "additionalProperties": False, "minProperties": 1,
                    "properties": {"min": COUNT, "max": COUNT},
                    "description": "Only TCP segments whose payload is this many bytes: {min: 1449} (either end "
                                   "may be left out), e.g. a GSO block the capture saw whole."},
        "count": COUNT, "min": COUNT, "max": COUNT,
        "why": {**WHY, "description": "What this packet proves."},
        "icmp": {"enum": ICMP, "description": "An ICMP (IPv4) or ICMPv6 (icmp6-...) error of this kind."},
        "counter": {"type": "string", "pattern": "^[A-Za-z0-9]+([.][A-Za-z0-9]+)?$",
                    "description": "Not packets: how much this kernel counter grew over the run at host `at` "
                                   "(/proc/net/netstat, /proc/net/snmp as nstat reads them: ListenOverflows, "
                                   "TcpExt.ListenDrops, Tcp.RetransSegs, ...)."},
        "at": {"type": "string", "description": "The host whose kernel's counter a counter rule reads."},
        "family": {"enum": [4, 6], "description": "Only packets of this family: 4 in an IPv6 run (whose hosts "
                   "have both addresses) counts those between the hosts' IPv4 addresses."},
        "nd": {"enum": ["solicitation", "advertisement"], "description": "An IPv6 neighbour solicitation or "
               "advertisement (from: the asking host, to: the one asked for) instead of TCP."},
        "retransmission": {"type": "boolean", "description": "Only segments that repeat sequence space already sent."},
        "arp": {"enum": ["request", "reply"], "description": "An ARP request or reply (from/to are the asking "
                                                             "and asked hosts) instead of TCP."},
        "kernels": RULE_KERNELS,
        "families": {"type": "array", "description": "The rule over one address family where it differs from the "
                     "other: a count, the ICMP kind, nd in place of arp (wins over kernels).",
                     "items": {"type": "object", "additionalProperties": False, "required": ["family", "why"],
                               "properties": {"family": {"enum": [4, 6]}, "count": COUNT, "min": COUNT, "max": COUNT,
                                              "within": {"$ref": "#/$defs/within"},
                                              "kernels": RULE_KERNELS, "icmp": {"enum": ICMP},
                                              "arp": {"enum": ["request", "reply"]},
                                              "nd": {"enum": ["solicitation", "advertisement"]},
                                              "why": FAMILY_WHY}}},
        "runtimes": {"type": "array", "description": "Counts that differ when a host runs another runtime; the "
                     "first entry whose host runs its runtime wins (over kernels).",
                     "items": {"type": "object", "additionalProperties": False, "required": ["runtime", "why"],
                               "properties": {"runtime": {"enum": list(RUNTIME_NAMES)},
                                              "host": {"type": "string", "description": "Whose runtime: by "
                                                       "default the rule's from host, else its to host."},
                                              "count": COUNT, "min": COUNT, "max": COUNT, "why": RUNTIME_WHY}}},
    },
}


def kind_branch(kind):
    """If a step is of this kind, then it has this kind's arguments and no others."""
    own = {a.name: a.schema for a in kind.args}
    allowed = {key: True for key in kind.keys if key not in own}  # typed at the step level
    branch = {"description": kind.doc, "type": "object", "additionalProperties": False,
              "properties": {**allowed, **own}}
    if kind.needs:
        branch["required"] = kind.needs
    return {"if": {"required": [kind.family], "properties": {kind.family: {"const": kind.name}}},
            "then": {"$ref": f"#/$defs/{kind.family}-{kind.name}"}}, branch


def step(kinds):
    """The step schema and one $defs entry per kind."""
    branches, defs = [], {}
    for kind in kinds.all:
        branch, defs[f"{kind.family}-{kind.name}"] = kind_branch(kind)
        branches.append(branch)
    families = {f: {"enum": kinds.names(f), "description": "; ".join(
        f"{k.name}: {k.doc}" for k in kinds.all if k.family == f)} for f in FAMILIES}
    schema = {
        "type": "object",
        "description": "One step: a call the host's agent makes, a wait on a condition, or a fault. "
                       "Exactly one of call, wait, fault.",
        "required": ["host"],
        "properties": {**{k: STEP_KEYS[k] for k in COMMON}, **families,
                       **{k: STEP_KEYS[k] for k in OUTCOME_KEYS}},
        "oneOf": [{"required": [f]} for f in FAMILIES],
        "dependentRequired": {"why": ["expect"], "kernels": ["expect"], "runtimes": ["expect"]},
        "allOf": branches,
    }
    return schema, defs


def family_only(kinds):
    """A step whose arguments exist in one address family only makes its scenario that family's."""
    rules = []
    for kind in kinds.all:
        for arg, values, f in kind.only_in:
            said = (f"a {kind.name} step's {arg}: {' or '.join(values)} exists only in IPv{f} (nothing is translated "
                    f"to the other family): the scenario says `family: {{only: [{f}], why: ...}}`")
            rules.append({"if": {"required": ["steps"], "properties": {"steps": {"contains": {
                              "required": [kind.family, arg],
                              "properties": {kind.family: {"const": kind.name}, arg: {"enum": list(values)}}}}}},
                          "then": {"$comment": said, "required": ["family"], "properties": {
                              "family": {"properties": {"only": {"const": [int(f)], "$comment": said}}}}}})
    return rules


def generate(kinds):
    step_schema, kind_defs = step(kinds)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tcp-fault-lab scenario",
        "description": "One experiment: hosts, ordered steps with expected outcomes, and the packets the capture "
                       "must hold. Generated by lab/scenario/schema.py from the step kinds' declarations.",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "summary", "story", "hosts", "steps", "packets"],
        "allOf": family_only(kinds),
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$",
                     "description": "Same as the file name without .yaml."},
            "summary": {"type": "string", "minLength": 1, "description": "One line for `lab list`."},
            "story": {"type": "string", "minLength": 1,
                      "description": "What this shows and why: the TCP mechanism, in plain sentences."},
            "hosts": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[a-z][a-z0-9]*$"},
                      "additionalProperties": {"type": ["object", "null"], "additionalProperties": False,
                                               "properties": HOST_OPTIONS}},
            "family": {"type": "object", "additionalProperties": False, "required": ["only", "why"],
                       "description": "The one address family this scenario makes sense in (both if absent); "
                                      "a run over the other is SKIPPED with `why`.",
                       "properties": {"only": {"type": "array", "minItems": 1, "maxItems": 1,
                                               "items": {"enum": [4, 6]}},
                                      "why": {"type": "string", "minLength": 1}}},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "packets": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"},
                        "description": "The wire must confirm the story: a scenario without packet rules "
                                       "is incomplete."},
        },
        "$defs": {
            "outcome": {"title": "outcome", "description": OUTCOME_WORDS,
                        "oneOf": [{"type": "integer", "minimum": 0}, {"enum": OUTCOME_NAMES}]},
            "outcomes": {"title": "outcome", "description": OUTCOME_WORDS, "oneOf": [
                {"$ref": "#/$defs/outcome"}, {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/outcome"}}]},
            "step": step_schema,
            **kind_defs,
            "rule": RULE,
            "within": {**WINDOW, "description": "Only packets this many seconds after the `after` step's start: "
                       "{min: 0.2, max: 0.4} or \"0.2-0.4\" (with after)."},
            "range": {"type": "string", "pattern": f"^{RANGE}(,{RANGE})*$",
                      "description": "Kernel versions, e.g. \">=6.5\" or \">=5.10,<6.1\"."},
        },
    }


def text(kinds):
    return json.dumps(generate(kinds), indent=2) + "\n"


def main():
    from lab.scenario.load import KINDS
    new = text(KINDS)
    if PATH.exists() and PATH.read_text() == new:
        print(f"{PATH.name} is current")
        return 0
    tmp = PATH.with_suffix(".json.tmp")
    tmp.write_text(new)
    tmp.replace(PATH)
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
