"""Step kinds are declared once, and everything that knows them agrees with the declarations.

- schema.json, committed for editors, is what the declarations generate today;
- the loader and the schema accept and refuse the same generated steps, for the
  lab's own kinds and for a new fault kind registered from one file
  (tests/data/faults/blackhole.py), which nothing else had to be told about;
- the Python agent implements every call and wait it is sent, reading exactly
  the declared arguments; each fault class takes exactly its declared arguments;
- the fake backend (tests/fakes.py) applies and reverts the new kind in a run, and a
  revert the host refuses is the run's unhealed fault.
"""

import ast
import doctest
import importlib.util
import inspect
import json
import string
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import FakeBackend, refused
from lab import faults, sockops
from lab import runner
from lab.errors import ScenarioError
from lab.scenario import kinds as kinds_module
from lab.scenario import schema
from lab.scenario.calls import CALLS, WAITS
from lab.scenario.kinds import FAMILIES, HOST, OUTCOME_KEYS, TARGET, UNOWNED
from lab.scenario.load import KINDS, load_text
from named_steps import observation

ROOT = Path(__file__).resolve().parents[1]
NEW_KIND = ROOT / "tests" / "data" / "faults" / "blackhole.py"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def module_from(path):
    spec = importlib.util.spec_from_file_location(f"lab_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


(BLACKHOLE,) = faults.declared_in(module_from(NEW_KIND)).values()
WITH_BLACKHOLE = KINDS.adding(faults.kind_of(BLACKHOLE))


@pytest.fixture
def registered(monkeypatch):
    """The new kind, registered where a run looks for it: faults.FAULTS (which faults.build
    and the runner read) and the returned kinds (pass them to load/load_text). A fake
    backend's test takes this fixture to run a scenario that applies and heals it."""
    monkeypatch.setitem(faults.FAULTS, BLACKHOLE.kind, BLACKHOLE)
    return WITH_BLACKHOLE


def test_committed_schema_is_what_the_declarations_generate():
    assert schema.PATH.read_text() == schema.text(KINDS), "lab/scenario/schema.json is stale: run `make schema`"


@pytest.mark.parametrize("module", [kinds_module, faults])
def test_docstring_examples(module):
    failed, attempted = doctest.testmod(module)
    assert attempted > 0 and failed == 0


# a new fault kind from one file

BASE = """\
name: x
summary: s
story: t
hosts: {server: null, client: null}
steps:
  - {host: server, call: listen, port: 7000}
  - {host: server, fault: drop, id: cut}
packets:
  - {why: w}
"""


def with_step(step):
    return BASE.replace("packets:", f"  - {json.dumps(step)}\npackets:")


def test_a_new_fault_kind_is_known_to_the_loader_and_the_schema(registered):
    step = load_text(with_step({"host": "client", "fault": "blackhole", "peer": "server", "route": "prohibit"}),
                     "x.yaml", kinds=registered).steps[-1]
    assert (step.fault, step.args) == ("blackhole", {"peer": "server", "route": "prohibit"})
    built = faults.build(step)
    assert isinstance(built, BLACKHOLE) and (built.peer, built.route) == ("server", "prohibit")
    generated = schema.generate(registered)
    assert "blackhole" in generated["$defs"]["step"]["properties"]["fault"]["enum"]
    assert generated["$defs"]["fault-blackhole"]["description"] == faults.kind_of(BLACKHOLE).doc


@pytest.mark.parametrize("step, message", [
    ({"host": "client", "fault": "blackhole"}, "x.yaml:8: step 3 (client blackhole): fault blackhole needs 'peer'"),
    ({"host": "client", "fault": "blackhole", "peer": "server", "port": 1},
     "step 3 (client blackhole): fault blackhole does not take 'port' (it takes: peer, route)"),
    ({"host": "client", "fault": "blackhole", "peer": "nobody"}, "unknown host 'nobody' (hosts: server, client)"),
    ({"host": "client", "fault": "blackhole", "peer": "server", "route": "lost"},
     "step 3: 'lost' is not one of blackhole, unreachable, prohibit"),
])
def test_a_new_fault_kind_is_refused_in_its_own_words(registered, step, message):
    with pytest.raises(ScenarioError) as info:
        load_text(with_step(step), "x.yaml", kinds=registered)
    assert message in str(info.value)


def test_without_registration_the_kind_is_unknown():
    with pytest.raises(ScenarioError, match=r"'blackhole' is not one of stop, start"):
        load_text(with_step({"host": "client", "fault": "blackhole", "peer": "server"}), "x.yaml")


# the loader and the schema agree, on generated steps

WORDS = st.text(string.ascii_letters + string.digits + " -_.", max_size=6)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2, 70000), st.floats(-1, 2), WORDS,
                 st.lists(st.integers(0, 3), max_size=2))
OUTCOME = st.sampled_from(["ok", "EOF", "TIMEOUT", "ECONNRESET", "SIGPIPE", "CLOSE", "ENOPE", "SIGNOPE", 0, 3, -1])
OUTCOME_VALUES = {
    "expect": st.one_of(OUTCOME, st.lists(OUTCOME, max_size=2)),
    "why": WORDS,
    "kernels": st.lists(st.fixed_dictionaries({"range": st.sampled_from([">=6.1", "<5", "new"]), "expect": OUTCOME,
                                               "why": WORDS}), max_size=1),
}
# What no schema can know is kept consistent: hosts that exist, a heal of an earlier fault.
CROSS_REFERENCES = {"of": st.just("cut")}


def near(t):
    """Values around what a declared type takes: inside it, and just outside."""
    if t is HOST:
        return st.sampled_from(["server", "client"])
    if t is TARGET:
        return st.sampled_from(["server", "client", UNOWNED])
    if "enum" in t:
        return st.sampled_from(t["enum"]) | WORDS
    if "oneOf" in t:
        return st.one_of([near(alternative) for alternative in t["oneOf"]])
    kind = t.get("type")
    if kind == "integer":
        return st.integers(t.get("minimum", -3) - 1, t.get("maximum", 70000) + 1)
    if kind == "number":
        return st.floats(-0.5, 1.5) | st.integers(-1, 2)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.from_regex(t["pattern"], fullmatch=True) | WORDS if "pattern" in t else WORDS
    if kind == "array":
        return st.lists(near(t["items"]), max_size=3)
    if kind == "object":
        return st.dictionaries(near(t["propertyNames"]), near(t["additionalProperties"]), max_size=2)
    return JUNK


def value_for(kinds, key):
    if key in CROSS_REFERENCES:
        return CROSS_REFERENCES[key]
    if key in OUTCOME_VALUES:
        return OUTCOME_VALUES[key]
    if key == "timeout":
        return st.floats(-1, 700)
    types = [a.type for k in kinds.all for a in k.args if a.name == key]
    target = next((t for t in types if t is HOST or t is TARGET), None)
    if target is not None:  # a string names a host that exists; anything else is the schema's to refuse
        return near(target) | st.none() | st.integers(0, 3)
    return st.one_of(*map(near, types), JUNK) if types else JUNK


@st.composite
def generated_steps(draw, kinds):
    family = draw(st.sampled_from(FAMILIES))
    name = draw(st.sampled_from(kinds.names(family) + ["bogus"]))
    step = {"host": "client"} if draw(st.integers(0, 9)) else {}
    step[family] = name
    if not draw(st.integers(0, 9)):
        other = draw(st.sampled_from([f for f in FAMILIES if f != family]))
        step[other] = draw(st.sampled_from(kinds.names(other)))
    kind = kinds.get(family, name)
    for arg in kind.args if kind else ():
        if draw(st.booleans()):
            step[arg.name] = draw(value_for(kinds, arg.name))
    strangers = sorted({a.name for k in kinds.all for a in k.args} | set(OUTCOME_KEYS) | {"timeout", "colour"})
    for key in draw(st.lists(st.sampled_from(strangers), max_size=2)):
        step[key] = draw(value_for(kinds, key))
    return step


def agree(kinds, check, step):
    text = with_step(step)
    try:
        load_text(text, "gen.yaml", kinds=kinds)
        loaded, why = True, "loaded"
    except ScenarioError as exc:
        loaded, why = False, str(exc)
        assert "\n" not in why and why.startswith("gen.yaml:"), why
    errors = [e.message for e in check.iter_errors(yaml.safe_load(text))]
    assert loaded == (not errors), f"{step}: loader: {why}; schema: {errors or 'valid'}"


COMMITTED = jsonschema.Draft202012Validator(json.loads(schema.PATH.read_text()))
GENERATED = jsonschema.Draft202012Validator(schema.generate(WITH_BLACKHOLE))


@pytest.mark.slow
@SETTINGS
@given(generated_steps(KINDS))
def test_the_loader_and_the_committed_schema_agree(step):
    agree(KINDS, COMMITTED, step)


@pytest.mark.slow
@SETTINGS
@given(generated_steps(WITH_BLACKHOLE))
def test_the_loader_and_the_generated_schema_agree_with_a_new_kind(step):
    agree(WITH_BLACKHOLE, GENERATED, step)


# the agent and the fault classes agree with the declarations

SENT_AS = {"to": "addr", "state": "want"}   # lab/steps.py sends these two under the agent's names
AGENT_ONLY = {"timeout"}                      # every command carries the step's deadline


def agent_ops():
    """{op: the command keys its op_ method reads} from lab/sockops.py's source."""
    tree = ast.parse(Path(sockops.__file__).read_text())
    agent = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Agent")
    ops = {}
    for method in (n for n in agent.body if isinstance(n, ast.FunctionDef) and n.name.startswith("op_")):
        keys = set()
        for node in ast.walk(method):
            if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "cmd":
                keys.add(node.slice.value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                if node.func.attr == "get" and getattr(node.func.value, "id", None) == "cmd":
                    keys.add(node.args[0].value)
                elif node.func.attr == "sock" and getattr(node.args[0], "id", None) == "cmd":
                    keys.add("sock")  # self.sock(cmd) reads cmd["sock"]
        ops[method.name[3:]] = keys - AGENT_ONLY
    return ops


def test_the_agent_implements_each_call_and_wait_with_the_declared_arguments():
    # exit is the agent's main loop (it exits before any op); wait exit is the runner's own
    sent = {k.name: {SENT_AS.get(a, a) for a in k.takes} for k in CALLS + WAITS if k.name != "exit"}
    sent["connect"] -= {"family", "by"}  # the runner picks `to`'s address (or name) by them; the agent gets it
    assert agent_ops() == sent


@pytest.mark.parametrize("cls", [*faults.FAULTS.values(), BLACKHOLE], ids=lambda c: c.kind)
def test_a_fault_class_takes_exactly_its_declared_arguments(cls):
    params = list(inspect.signature(cls).parameters)
    assert sorted(a.param or a.name for a in cls.args) == sorted(params)
    assert faults.kind_of(cls).doc, f"{cls.__name__} needs a docstring: it is the kind's doc"


# the new kind runs: the fake backend applies and reverts it

BLACKHOLE_RUN = BASE.replace("packets:\n  - {why: w}", """\
  - {id: gone, host: client, fault: blackhole, peer: server}
  - {host: client, fault: heal, of: gone}
  - {id: refused, host: client, fault: blackhole, peer: server, route: prohibit}
packets:
  - {max: 0, why: the fake backend captures nothing}""")


def run_blackhole(registered, on_exec=lambda call: None):
    backend = FakeBackend(on_exec=on_exec)
    res = runner.run(load_text(BLACKHOLE_RUN, "x.yaml", kinds=registered), backend)
    return res, [line for line in backend.calls() if " ip route " in line]


def test_the_fake_backend_applies_and_reverts_a_new_fault_kind(registered):
    res, routes = run_blackhole(registered)
    server = res.addresses["server"]
    assert routes == [f"client: ip route add blackhole {server}/32", f"client: ip route del blackhole {server}/32",
                      f"client: ip route add prohibit {server}/32",
                      f"client: ip route del prohibit {server}/32"]  # still in place at the end
    assert [o.outcome for o in res.observations] == ["ok"] * 5 and res.verdict.passed


@pytest.mark.parametrize("said, fails", [("RTNETLINK answers: Operation not permitted", True),
                                         ("RTNETLINK answers: No such process", False)])  # already gone
def test_a_new_fault_kinds_failed_revert_is_reported(registered, said, fails):
    res, routes = run_blackhole(registered, lambda call: refused(said) if call.argv[:3] == ("ip", "route", "del")
                                else None)
    assert len(routes) == 4
    assert observation(res, fault="heal").outcome == ("ERROR" if fails else "ok")
    assert [line.split(":")[0] for line in res.verdict.unhealed] == (["step refused (blackhole)"] if fails else [])
