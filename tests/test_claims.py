"""Claims tied to their checks (issue 13): every number and outcome a scenario's summary or story
names carries the id of the step or packet rule that checks it, `[id]` or `[id1, id2]`
(lab/scenario/tags.py), and this test holds each tag to what its step or rule allows.

- Every tag names a step or rule id of its scenario.
- A number or range ("3.05-3.08", "2–4"; or a number word, "three") with a unit right before a tag
  ("3.05-3.08 s [patient]", "three SYNs [resends]", "4344 bytes [read-b]") lies within what one
  of the tagged steps or rules allows in some cell (top level, a kernels, families or runtimes
  entry): a time within a step's `seconds` window or a rule's `within`, bytes within a step's
  byte-count outcomes (or its `bytes` argument), a count of packets within a rule's count.
- An outcome word right before a tag ("ETIMEDOUT [read]") is among a tagged step's outcomes in
  some cell.
- The converse: every sentence with a number and a unit, or an outcome (an errno name, EOF,
  TIMEOUT, a signal), carries a tag, unless the number is a value the scenario's steps set (a
  timeout, an option, a byte count to send).
"""

import io
import re

import pytest
from rich.console import Console

from lab import catalogue
from lab.calls import ERRNO_NAMES
from lab.reports.terminal import show_scenario
from lab.scenario.load import SCENARIOS, load, load_text
from lab.scenario.tags import TAG, ids, plain
from lab.scenario.windows import inside

WORDS = {"no": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
         "ten": 10, "eleven": 11, "twelve": 12}
TIME = {"seconds": 1, "second": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "s": 1}
BYTES = ("bytes", "byte")
PACKETS = ("SYN-ACKs", "SYN-ACK", "SYNs", "SYN", "segments", "segment", "probes", "probe", "packets", "packet",
           "RSTs", "RST", "FINs", "FIN", "ACKs", "ACK", "retransmissions", "retransmission", "resends", "resend",
           "requests", "request", "solicitations", "solicitation", "replies", "answers", "ICMP errors", "errors")
UNIT = "|".join(re.escape(u) for u in sorted([*TIME, *BYTES, *PACKETS], key=len, reverse=True))
DIGITS = r"\d+(?:\.\d+)?"
NUMBER = rf"(?:{DIGITS}|(?i:{'|'.join(WORDS)}))"
# a claim right before a tag: "3.05-3.08 s", "three SYNs", "4344 bytes"
CLAIM = re.compile(rf"(?<![\w.])(?P<a>{NUMBER})(?:\s*[-–]\s*(?P<b>{DIGITS}))?\s*(?P<unit>{UNIT})\W{{0,2}}$")
OUTCOME = re.compile(r"\b(?P<word>E[A-Z0-9]{2,}|EOF|TIMEOUT|SIG[A-Z]+)[\"')]?$")
# a number with a unit anywhere (the converse): digits, or a number word other than "no"
ANY = re.compile(rf"(?<![\w.])(?P<a>{DIGITS}|(?i:{'|'.join(w for w in WORDS if w != 'no')}))"
                 rf"(?:\s*[-–]\s*(?P<b>{DIGITS}))?\s*(?P<unit>{UNIT})(?![\w-])")
OUTCOME_WORDS = {*ERRNO_NAMES, "EOF", "TIMEOUT", "SIGPIPE", "SIGKILL", "SIGSTOP", "SIGCONT", "SIGTERM"}
ANY_OUTCOME = re.compile(rf"\b(?:{'|'.join(sorted(OUTCOME_WORDS, key=len, reverse=True))})\b")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"`'])")


def value(text):
    return WORDS[text.lower()] if text.lower() in WORDS else float(text)


def by_id(scenario):
    return {**{s.id: s for s in scenario.steps if s.id}, **{r.id: r for r in scenario.packets if r.id}}


def step_cells(expect):
    """Every (outcomes, seconds window) a step's expectation can read as, per kernel, family, runtime."""
    cells = [(expect.outcomes, expect.seconds)]
    cells += [(k.outcomes, k.seconds or expect.seconds) for k in expect.kernels]
    for f in expect.families:
        cells.append((f.outcomes, f.seconds or expect.seconds))
        cells += [(k.outcomes, k.seconds or f.seconds or expect.seconds) for k in f.kernels]
    cells += [((r.words,) if r.words else r.outcomes, r.seconds or expect.seconds) for r in expect.runtimes]
    return cells


def rule_cells(rule):
    """Every (min, max, within) a packet rule can read as."""
    cells = [(rule.min, rule.max, rule.within)] + [(k.min, k.max, k.within or rule.within) for k in rule.kernels]
    for f in rule.families:
        low, high = f.changes.get("min", rule.min), f.changes.get("max", rule.max) if "min" in f.changes else rule.max
        within = f.changes.get("within", rule.within)
        cells += [(low, high, within)] + [(k.min, k.max, k.within or within) for k in f.kernels]
    return cells + [(r.min, r.max, rule.within) for r in rule.runtimes]


def allows(thing, low, high, unit):
    """Does a step or rule allow a claim of low..high in this unit in some cell? (why not, if not)"""
    is_step = hasattr(thing, "expect")
    if unit in TIME:
        low, high = low * TIME[unit], high * TIME[unit]
        windows = [c[1] for c in step_cells(thing.expect)] if is_step else [c[2] for c in rule_cells(thing)]
        windows = [w for w in windows if w]
        ok = any(inside(w, low) and inside(w, high) for w in windows)
        return ok, f"its windows are {windows or 'none: give it seconds (a step) or within (a rule)'}"
    if unit in BYTES:
        if not is_step:
            return False, "a rule counts packets, not bytes: tag the step whose outcome is the byte count"
        cells = [[o for o in outcomes if isinstance(o, int)] for outcomes, _ in step_cells(thing.expect)]
        cells += [[thing.args["bytes"]]] if "bytes" in thing.args else []
        cells = [c for c in cells if c]
        ok = any(min(c) <= low and high <= max(c) for c in cells)
        return ok, f"its byte counts are {cells or 'none'}"
    if is_step:
        return False, "a step has no packet count: tag the packet rule that counts them"
    counts = [(lo, hi) for lo, hi, _ in rule_cells(thing)]
    ok = any(lo <= low and (hi is None or high <= hi) for lo, hi in counts)
    return ok, f"its counts are {counts}"


def reached(step):
    """The states a `wait state` step waits for: what it claims, where it expects no particular one."""
    state = step.args["state"]
    return [state] if isinstance(state, str) else state


def tag_problems(scenario):
    """What is wrong with a scenario's tags: one line each."""
    known, problems = by_id(scenario), []
    for field in ("summary", "story"):
        text = getattr(scenario, field)
        for m in TAG.finditer(text):
            tagged = ids(m.group("ids"))
            where = f"{scenario.name} {field}: {text[max(0, m.start() - 50):m.end()]!r}"
            missing = [i for i in tagged if i not in known]
            if missing:
                problems.append(f"{where}: no step or rule {', '.join(missing)}")
                continue
            before = text[:m.start()]
            if claim := CLAIM.search(before):
                low = value(claim.group("a"))
                high = value(claim.group("b")) if claim.group("b") else low
                verdicts = [allows(known[i], low, high, claim.group("unit")) for i in tagged]
                if not any(ok for ok, _ in verdicts):
                    problems.append(f"{where}: {claim.group(0).strip()} is not what {', '.join(tagged)} allow"
                                    f" ({'; '.join(why for _, why in verdicts)})")
            elif outcome := OUTCOME.search(before):
                word = outcome.group("word")
                cells = [o for i in tagged if hasattr(known[i], "expect") for o, _ in step_cells(known[i].expect)]
                cells += [tuple(reached(known[i])) for i in tagged if getattr(known[i], "wait", None) == "state"]
                if not any(word in outcomes for outcomes in cells):
                    problems.append(f"{where}: {word} is not among the outcomes of {', '.join(tagged)} ({cells})")
    return problems


def values_set(scenario):
    """The numbers the scenario's steps set: timeouts, byte counts, ports, options, fault arguments."""
    found = set()

    def walk(v):
        if isinstance(v, bool):
            return
        if isinstance(v, (int, float)):
            found.add(float(v))
        elif isinstance(v, str):
            found.update(float(x) for x in re.findall(DIGITS, v))
        elif isinstance(v, dict):
            list(map(walk, v.values()))
        elif isinstance(v, (list, tuple)):
            list(map(walk, v))
    for s in scenario.steps:
        walk(s.args)
        found.add(s.timeout)
    return found | {v / 1000 for v in found}   # TCP_USER_TIMEOUT 3000 (ms) is 3 s


def untagged(scenario):
    """The sentences of summary and story that name a number with a unit but carry no tag."""
    setting, found = values_set(scenario), []
    for field in ("summary", "story"):
        for sentence in SENTENCE.split(" ".join(getattr(scenario, field).split())):
            if TAG.search(sentence):
                continue
            claims = [m.group(0) for m in ANY.finditer(sentence)
                      if not {value(m.group("a")), value(m.group("b") or m.group("a"))} <= setting]
            claims += ANY_OUTCOME.findall(sentence)
            if claims:
                found.append(f"{scenario.name} {field}: {', '.join(claims)} untagged in: {sentence!r}")
    return found


SCENARIO_PATHS = sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIO_PATHS, ids=lambda p: p.stem)
def test_every_tag_resolves_and_holds(path):
    problems = tag_problems(load(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SCENARIO_PATHS, ids=lambda p: p.stem)
def test_every_claim_is_tagged(path):
    scenario = load(path)
    left = untagged(scenario)
    assert not left, "\n".join(left)


def test_readers_never_see_a_tag():
    assert not TAG.search(catalogue.markdown())
    out = io.StringIO()
    show_scenario(load_text(TEXT, "x.yaml"), Console(file=out, width=200))
    assert "[" not in out.getvalue().split("\n")[0] and "[read]" not in out.getvalue()
    assert "ETIMEDOUT after 3.0-3.1 s." in out.getvalue()


# the checks themselves, on a made-up scenario: each can fail

TEXT = """\
name: x
summary: A connect fails with ETIMEDOUT [read] after 3.0-3.1 s [connect].
story: |
  Two SYNs [syn] leave. The read gets 100 bytes [read].
hosts:
  server:
  client:
steps:
  - {host: server, call: listen, port: 7000}
  - {id: connect, host: client, call: connect, to: server, port: 7000, options: {TCP_SYNCNT: 1}, timeout: 9,
     expect: ETIMEDOUT, seconds: "3-3.2", kernels: [{range: "<6.5", seconds: "2-2.5", why: old}]}
  - {id: read, host: client, call: recv, expect: [100, ETIMEDOUT]}
  - {id: still, host: client, wait: state, state: ESTABLISHED}
packets:
  - {id: syn, from: client, to: server, flags: SYN, min: 2, max: 3, why: w,
     kernels: [{range: "<6.5", count: 1, why: old}]}
"""


def made(summary=None, story=None):
    text = TEXT
    if summary is not None:
        text = text.replace("A connect fails with ETIMEDOUT [read] after 3.0-3.1 s [connect].", summary)
    if story is not None:
        text = text.replace("Two SYNs [syn] leave. The read gets 100 bytes [read].", story)
    return load_text(text, "x.yaml")


def test_a_well_tagged_text_passes():
    assert tag_problems(made()) == [] and untagged(made()) == []


@pytest.mark.parametrize("summary, story, fragment", [
    ("Fails [nope].", None, "no step or rule nope"),
    ("It took 3.0-3.3 s [connect].", None, "3.0-3.3 s is not what connect allow"),        # wider than the window
    ("It took 2.2 s [connect].", None, None),                                            # the <6.5 window
    ("It took 2.6 s [connect].", None, "2.6 s is not what"),
    ("It took 3100 ms [connect].", None, None),
    ("It took 3300 ms [connect].", None, "3300 ms"),
    ("It took 3.05 s [read].", None, "none: give it seconds"),                           # read has no window
    (None, "Four SYNs [syn] leave.", "Four SYNs is not what syn allow"),
    (None, "One SYN: 1 SYN [syn].", None),                                               # the <6.5 count
    (None, "No SYN [syn].", "No SYN is not what"),
    (None, "Two SYNs [connect].", "a step has no packet count"),
    (None, "The read gets 99 bytes [read].", "99 bytes is not what read allow"),
    (None, "The read gets 100 bytes [syn].", "a rule counts packets, not bytes"),
    (None, "The read fails with ECONNRESET [read].", "ECONNRESET is not among the outcomes of read"),
    (None, "The connect fails with ETIMEDOUT [syn].", "ETIMEDOUT is not among the outcomes of syn"),
    (None, "Resent 2 SYNs [read, syn].", None),                                          # any tagged id may allow it
    (None, "The socket is still ESTABLISHED [still].", None),                            # a wait's state
    (None, "The socket is CLOSE_WAIT [still].", None),                                   # no outcome word
    (None, "The socket is ESTABLISHED [read].", "ESTABLISHED is not among the outcomes of read"),
])
def test_a_tag_that_does_not_hold_is_named(summary, story, fragment):
    problems = tag_problems(made(summary, story))
    if fragment is None:
        assert problems == []
    else:
        assert len(problems) == 1 and fragment in problems[0], problems


@pytest.mark.parametrize("story, untagged_claims", [
    ("Two SYNs leave. The read gets 100 bytes [read].", ["Two SYNs"]),
    ("The kernel gives up after 3.05 s. Then nothing.", ["3.05 s"]),
    ("Then 2-4 probes and 12 bytes follow.", ["2-4 probes, 12 bytes"]),
    ("The deadline is 9 s, as the step sets it, and TCP_SYNCNT 1 over 20 runs on 6.18.", []),  # set, or no unit
    ("Two SYNs [syn] and 3.05 s in one sentence with one tag.", []),
    ("The read fails with ECONNRESET. Then EOF, 3 s later.", ["ECONNRESET", "3 s, EOF"]),
])
def test_an_untagged_sentence_is_named(story, untagged_claims):
    found = untagged(made(story=story))
    assert [f.split(": ", 1)[1].split(" untagged")[0] for f in found] == untagged_claims
