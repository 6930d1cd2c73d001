"""Bad input, generated: the loader either loads a document or refuses it with one
line naming the file and line; it never raises anything else and never half-loads."""

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.errors import ScenarioError
from lab.scenario.load import KINDS, load_text
from lab.scenario.model import Scenario

pytestmark = pytest.mark.slow
SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
DOCS = [yaml.safe_load(p.read_text()) for p in SCENARIOS]
FIELD_WORDS = sorted({"host", "call", "wait", "fault", "expect", "why", "kernels", "range", "from", "flags",
                      "after", "count", "min", "max", "icmp", "server", "client", "router", "EOF", "ok", "EPIPE",
                      "SIGPIPE", "CLOSE", "RST", "SYN"}
                     | {k.name for k in KINDS.all} | {a.name for k in KINDS.all for a in k.args})
SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False),
                    st.sampled_from(FIELD_WORDS), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELD_WORDS) | st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)


def check(text):
    try:
        result = load_text(text, "fuzz.yaml")
    except ScenarioError as exc:
        message = str(exc)
        assert "\n" not in message and re.match(r"fuzz\.yaml:\d+: \S", message), message
        return
    assert isinstance(result, Scenario)


@SETTINGS
@given(values)
def test_any_yaml_document_loads_or_is_refused_in_one_line(doc):
    check(yaml.safe_dump(doc))


@SETTINGS
@given(st.sampled_from(range(len(DOCS))), st.lists(st.tuples(st.integers(0, 50), values), min_size=1, max_size=3))
def test_mutations_of_real_scenarios_load_or_are_refused_in_one_line(index, mutations):
    doc = yaml.safe_load(yaml.safe_dump(DOCS[index]))  # a fresh copy
    for where, value in mutations:
        replace_somewhere(doc, where, value)
    check(yaml.safe_dump(doc))


def replace_somewhere(node, where, value):
    """Replace the `where`-th value met walking the document (or add a key) with `value`."""
    stack = [node]
    while stack:
        current = stack.pop()
        items = list(current.items()) if isinstance(current, dict) else list(enumerate(current))
        for key, child in items:
            if where == 0:
                current[key] = value
                return
            where -= 1
            if isinstance(child, (dict, list)):
                stack.append(child)
    if isinstance(node, dict):
        node[str(value)[:6] or "x"] = value


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_loads_or_is_refused_in_one_line(text):
    check(text)
