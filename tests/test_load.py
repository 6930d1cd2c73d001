"""Loading scenarios: every real one loads; every doubtful one is refused with `file:line: what`."""

import pytest

from lab.errors import ScenarioError
from lab.scenario import model
from lab.scenario.load import SCENARIOS, load, load_text, path_for
from named_steps import step

# A valid scenario; the cases below change one thing in it. Line numbers:
BASE = """\
name: x
summary: s
story: t
hosts:
  server:
  client:
steps:
  - {host: server, call: listen, port: 7000}
  - {host: client, call: connect, sock: a, to: server, port: 7000}
  - id: acc
    host: server
    call: accept
    sock: a
  - {host: client, call: send, sock: a, bytes: 10, expect: 10}
packets:
  - {from: client, to: server, flags: SYN, count: 1, why: w}
  - {sock: a, after: acc, flags: [RST, ACK], min: 1, why: w}
"""
#  1 name            8 listen           14 send (flow)
#  5 server          9 connect          16 rule 1
#  6 client         10-13 accept        17 rule 2
#                   (11 host, 12 call, 13 sock)


def edit(old, new):
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def refused(text, expected_name=None):
    with pytest.raises(ScenarioError) as info:
        load_text(text, "x.yaml", expected_name)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_real_scenario_loads(path):
    scenario = load(path)
    assert scenario.name == path.stem
    assert scenario.steps and scenario.packets and scenario.hosts
    assert [s.number for s in scenario.steps] == list(range(1, len(scenario.steps) + 1))
    assert load(path_for(path.stem)) == scenario


def test_base_loads():
    s = load_text(BASE, "x.yaml", "x")
    assert list(s.hosts) == ["server", "client"]
    assert s.hosts["server"] == model.HostOptions()
    assert [st.action for st in s.steps] == ["listen", "connect", "accept", "send"]
    assert s.step("acc").number == 3 and s.step(4).line == 14 and s.steps[2].line == 10
    assert s.step(2).args == {"sock": "a", "to": "server", "port": 7000}
    assert s.step(4).expect.outcomes == (10,) and s.step(1).expect.outcomes == ("ok",)
    r1, r2 = s.packets
    assert (r1.line, r1.src, r1.dst, r1.flags, r1.min, r1.max) == (16, "client", "server", ("SYN",), 1, 1)
    assert (r2.line, r2.sock, r2.after, r2.flags, r2.min, r2.max) == (17, "a", "acc", ("RST", "ACK"), 1, None)


def test_crash_reset_details():
    s = load(path_for("crash-reset"))
    write_a, write_b = s.step("write-a"), s.step("write-b")
    assert (write_a.call, write_a.args["sock"], write_b.args["sock"]) == ("send", "a", "b")
    assert write_a.number < write_b.number
    assert step(s, after="write-a", call="recv").expect.outcomes == ("EOF",)
    assert [(r.sock, r.flags, r.after, r.min, r.max) for r in s.packets] == [
        ("a", ("FIN",), None, 1, 1), (None, ("FIN",), None, 3, 3), ("a", ("RST",), "write-a", 1, None),
        ("b", ("RST",), "write-b", 1, None),
        ("c", ("FIN",), "close-c", 1, 1), ("c", ("ACK",), "close-c", 1, 1), ("c", ("RST",), None, 0, 0),
        (None, ("FIN",), None, 1, 1), (None, ("RST",), None, 0, 0)]


@pytest.mark.parametrize("old, new, line, fragment", [
    # missing keys
    ("summary: s\n", "", 1, "missing 'summary'"),
    ("packets:\n  - {from: client, to: server, flags: SYN, count: 1, why: w}\n"
     "  - {sock: a, after: acc, flags: [RST, ACK], min: 1, why: w}\n", "", 1, "missing 'packets'"),
    ("{host: client, call: send,", "{call: send,", 14, "step 4: missing 'host'"),
    ("count: 1, why: w}", "count: 1}", 16, "missing 'why'"),
    ("steps:\n", "steps: []\nold:\n", 8, "unknown key 'old'"),
    # unknown keys (on the line the mapping starts on)
    ("expect: 10}", "expect: 10, colour: red}", 14, "call send does not take 'colour' (it takes: bytes, dontwait, sock)"),
    ("  server:\n", "  server: {sigpipe: default, colour: red}\n", 5, "unknown key 'colour'"),
    ("count: 1, why: w}", "count: 1, why: w, colour: red}", 16, "unknown key 'colour'"),
    ("  server:\n", "  server: {sigpipe: maybe}\n", 5, "'maybe' is not one of ignore, default"),
    # unknown host
    ("{host: client, call: send", "{host: nobody, call: send", 14, "unknown host 'nobody'"),
    ("    host: server\n", "    host: nobody\n", 11, "step 3 (nobody accept): unknown host 'nobody'"),
    ("to: server, port", "to: router, port", 9, "step 2 (client connect): unknown host 'router'"),
    # unknown call, wrong kind of step
    ("call: accept", "call: bind", 12, "step 3: 'bind' is not one of listen, accept"),
    ("    call: accept\n", "    call: accept\n    wait: exit\n", 11, "step 3 (server accept): needs exactly one of"),
    ("    call: accept\n", "", 11, "step 3 (server ?): needs exactly one of call, wait, fault"),
    ("{host: server, call: listen, port: 7000}", "{host: server, wait: acked, expect: ok}", 8,
     "step 1 (server acked): only calls and wait state and wait exit take expect"),
    # arguments a call does not take
    ("    sock: a\n", "    sock: a\n    port: 1\n", 14, "step 3 (server accept): call accept does not take 'port'"),
    ("bytes: 10, expect", "bytes: 10, to: server, expect", 14, "call send does not take 'to' (it takes: bytes, dontwait, sock)"),
    ("{host: server, call: listen, port: 7000}", "{host: server, call: exit, sock: a}", 8,
     "call exit does not take 'sock' (it takes: nothing)"),
    ("{host: server, call: listen, port: 7000}", "{host: server, call: exit, port: 1}", 8,
     "step 1 (server exit): call exit does not take 'port' (it takes: nothing)"),
    ("{host: server, call: listen, port: 7000}", "{host: server, fault: drop, expect: ok}", 8,
     "step 1 (server drop): only calls and wait state and wait exit take expect"),
    ("{host: server, call: listen, port: 7000}", "{host: server, fault: kill, port: 1}", 8,
     "fault kill does not take 'port' (it takes: signal)"),
    # missing required arguments
    ("{host: server, call: listen, port: 7000}", "{host: server, call: listen}", 8,
     "step 1 (server listen): call listen needs 'port'"),
    ("sock: a, to: server, port", "sock: a, port", 9, "call connect needs 'to'"),
    ("call: accept\n    sock: a\n", "call: setsockopt\n    sock: a\n", 12, "call setsockopt needs 'option'"),
    ("{host: server, call: listen, port: 7000}", "{host: server, wait: state}", 8, "wait state needs 'state'"),
    ("{host: server, call: listen, port: 7000}", "{host: server, fault: partition}", 8,
     "step 1 (server partition): fault partition needs 'peer'"),
    # bad argument values
    ("{host: server, call: listen, port: 7000}", "{host: server, fault: partition, peer: nobody}", 8,
     "step 1 (server partition): unknown host 'nobody'"),
    ("{host: server, call: listen, port: 7000}", "{host: server, fault: partition, peer: unowned}", 8,
     "step 1 (server partition): unknown host 'unowned'"),  # only connect's `to` may name it
    ("{host: client, call: send", "{host: unowned, call: send", 14, "unknown host 'unowned'"),
    ("  client:\n", "  client:\n  unowned:\n", 7, "no host may be called 'unowned'"),
    ("{host: server, call: listen, port: 7000}", "{host: server, fault: rate, rate: fast}", 8,
     "step 1: 'fast' does not match"),
    ("{host: server, call: listen, port: 7000}", "{host: server, fault: reject, with: icmp-bogus}", 8,
     "step 1: 'icmp-bogus' is not one of tcp-reset, icmp-port-unreachable"),
    ("port: 7000}", "port: 7000, options: {TCP_SYNCNT: fast}}", 8,
     "step 1: unknown option value 'fast' (allowed: a number; for SO_LINGER [on, seconds])"),
    ("call: accept\n    sock: a\n", "call: setsockopt\n    option: SO_FOO\n    value: 1\n", 13,
     "step 3: unknown socket option 'SO_FOO' (allowed: SO_LINGER, "),
    ("port: 7000}", "port: 70000}", 8, "step 1: 70000 is greater than the maximum of 65535"),
    ("port: 7000}", "port: 7000, options: {SO_FOO: 1}}", 8, "unknown socket option 'SO_FOO'"),
    # bad outcome names
    ("expect: 10}", "expect: ECONNRESETX}", 14, "unknown outcome 'ECONNRESETX'"),
    ("expect: 10}", "expect: [EOF, ENOPE]}", 14, "unknown outcome 'ENOPE'"),
    ("expect: 10}", "expect: SIGNOPE}", 14, "unknown outcome 'SIGNOPE'"),
    ("    sock: a\n", "    sock: a\n    expect: ENOTANERRNO\n", 14, "unknown outcome 'ENOTANERRNO'"),
    ("expect: 10}", "expect: 10, kernels: [{range: '>=6', expect: EBOGUS, why: k}]}", 14, "unknown outcome 'EBOGUS'"),
    ("{host: server, call: listen, port: 7000}", "{host: server, wait: state, state: NOPE}", 8,
     "step 1: unknown TCP state 'NOPE' (allowed: ESTABLISHED, SYN_SENT"),
    ("expect: 10}", "expect: -1}", 14, "step 4: "),
    # duplicate ids: reported on the second step that uses it
    ("{host: server, call: listen, port: 7000}", "{host: server, call: listen, port: 7000, id: acc}", 10,
     "step 3: id 'acc' is used twice"),
    # packet rules referring to what does not exist
    ("after: acc", "after: nope", 17, "packet rule 2: no step 'nope'"),
    ("after: acc", "after: 9", 17, "packet rule 2: no step 9"),
    ("{sock: a, after", "{sock: z, after", 17, "packet rule 2: no connection named 'z' (named: a)"),
    ("{from: client, to: server", "{from: client, to: router", 16, "packet rule 1: unknown host 'router'"),
    ("{from: client, to: server", "{from: nobody, to: server", 16, "packet rule 1: unknown host 'nobody'"),
    # counts
    ("count: 1", "count: 1, min: 1", 16, "packet rule 1: give count, or min/max, not both"),
    ("count: 1", "count: 1, max: 1", 16, "packet rule 1: give count, or min/max, not both"),
    ("min: 1", "min: 3, max: 2", 17, "packet rule 2: max 2 is below min 3"),
    ("count: 1", "count: -1", 16, "-1 is less than the minimum of 0"),
    ("count: 1,", "count: 1, kernels: [{range: '<6.5', count: 0, min: 1, why: k}],", 16,
     "packet rule 1: give count, or min/max, not both"),
    ("count: 1,", "count: 1, kernels: [{range: '<6.5', min: 3, max: 2, why: k}],", 16,
     "packet rule 1: max 2 is below min 3"),
    ("count: 1,", "count: 1, kernels: [{range: 'old', count: 0, why: k}],", 16, "does not match"),
    ("count: 1,", "count: 1, kernels: [{range: '<6.5', count: 0}],", 16, "missing 'why' (required: range, why)"),
    # not YAML, not a mapping
    ("    call: accept\n", "    call: accept\n  bad: [\n", 13, "not valid YAML"),
])
def test_refused(old, new, line, fragment):
    message = refused(edit(old, new))
    assert message.startswith(f"x.yaml:{line}: "), message
    assert fragment in message, message


def test_a_rule_counts_what_its_kernel_range_says():
    rule = load_text(edit("count: 1,", "count: 1, kernels: [{range: '<6.5', count: 0, why: old}],"), "x").packets[0]
    assert (rule.for_kernel((5, 10, 262)).wanted, rule.for_kernel((5, 10, 262)).why) == ("0", "old")
    assert rule.for_kernel((6, 18, 44)) == rule


def test_a_family_entry_reads_for_its_family_and_its_own_kernel_ranges():
    rule = load_text(edit("count: 1,", "count: 1, families: [{family: 6, count: 2, why: six, "
                                       "kernels: [{range: '<6.12', count: 3, why: old six}]}],"), "x").packets[0]
    assert rule.for_cell((6, 18, 0), {}, "4") == rule.for_kernel((6, 18, 0))
    assert [(r.wanted, r.why) for r in (rule.for_cell((6, 18, 0), {}, "6"), rule.for_cell((6, 1, 0), {}, "6"))] \
        == [("2", "six"), ("3", "old six")]
    step = load_text(edit("expect: 10}", "expect: 10, why: ten, families: [{family: 6, expect: 9, why: nine, "
                                         "kernels: [{range: '<6.12', expect: 8, why: old nine}]}]}"), "x").steps[3]
    assert [step.expect.for_cell(k, {}, "client", f).outcomes for k, f in
            (((6, 18, 0), "4"), ((6, 18, 0), "6"), ((6, 1, 0), "6"))] == [(10,), (9,), (8,)]

    both = load_text(edit("count: 1,", "count: 1, kernels: [{range: '<6.5', count: 0, why: old}], "
                                       "families: [{family: 6, count: 2, why: six}],"), "x").packets[0]
    assert (both.for_cell((5, 10, 0), {}, "4").wanted, both.for_cell((6, 18, 0), {}, "6").wanted) == ("0", "2")


def test_count_and_min_in_a_block_rule_point_at_count():
    text = BASE + "  - why: w\n    from: server\n    count: 0\n    max: 1\n"
    assert refused(text).startswith("x.yaml:20: packet rule 3: give count, or min/max, not both")


def test_name_must_match_the_file_name():
    text = "summary: s\n" + edit("summary: s\n", "")
    assert load_text(text, "x.yaml", "x").name == "x"
    assert refused(text, "other") == "x.yaml:2: name 'x' must match the file name 'other'"


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n", "42\n", "null\n"])
def test_a_document_that_is_not_a_mapping(text):
    assert refused(text).startswith("x.yaml:1: a scenario is a mapping with keys name, summary")


@pytest.mark.parametrize("text, line", [
    ("name: x\nsummary: [\n", 3),
    ("name: x\nsummary: s\n  story: t\n", 3),
    ("name: x\n\tsummary: s\n", 2),
])
def test_invalid_yaml(text, line):
    message = refused(text)
    assert message.startswith(f"x.yaml:{line}: not valid YAML: "), message


def test_unknown_scenario_name():
    with pytest.raises(ScenarioError, match=r"unknown scenario 'no-such'; known: .*crash-reset"):
        path_for("no-such")


def test_unreadable_file(tmp_path):
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read: "):
        load(tmp_path / "nope.yaml")


# kernel-keyed expectations

@pytest.mark.parametrize("text, version", [
    ("6.18.44-fc-v669", (6, 18, 44)),
    ("5.15.0-91-generic", (5, 15, 0)),
    ("6.1", (6, 1, 0)),
    ("6", (6, 0, 0)),
    ("5.10.1.2", (5, 10, 1)),
    ("6.8.0-rc1+", (6, 8, 0)),
])
def test_parse_version(text, version):
    assert model.parse_version(text) == version


@pytest.mark.parametrize("version, spec, inside", [
    ((6, 1, 0), ">=6.1", True),
    ((6, 0, 99), ">=6.1", False),
    ((5, 10, 0), ">=5.10,<6.1", True),
    ((6, 1, 0), ">=5.10,<6.1", False),
    ((5, 9, 200), ">=5.10, <6.1", False),
    ((5, 4, 0), "<=5.4", True),
    ((5, 4, 1), "<=5.4", False),
    ((5, 4, 1), ">5.4", True),
    ((4, 19, 0), "==4.19", True),
    ((4, 19, 1), "== 4.19", False),
])
def test_in_range(version, spec, inside):
    assert model.in_range(version, spec) is inside


def test_for_kernel_first_match_wins_else_default():
    expect = model.Expect(outcomes=("EOF",), why="default", kernels=(
        model.KernelExpect(">=6.1", ("ECONNRESET",), "new"),
        model.KernelExpect(">=5.0", ("EPIPE",), "middle"),
    ))
    assert expect.for_kernel((6, 2, 0)) == model.Expect(("ECONNRESET",), "new")
    assert expect.for_kernel((5, 10, 0)) == model.Expect(("EPIPE",), "middle")
    assert expect.for_kernel((4, 19, 0)) is expect


def test_kernels_loaded_from_yaml():
    s = load_text(edit("expect: 10}", "expect: 10, why: all, kernels: [{range: '<5.0', expect: [EOF, 0], why: old}]}"),
                  "x.yaml")
    expect = s.step(4).expect
    assert expect.kernels == (model.KernelExpect("<5.0", ("EOF", 0), "old"),)
    assert expect.for_kernel((4, 19, 0)).outcomes == ("EOF", 0)
    assert expect.for_kernel((6, 1, 0)) == model.Expect((10,), "all", expect.kernels)


@pytest.mark.parametrize("old, new, line, fragment", [
    ("    sock: a\n", "    sock: a\n    bogus: 1\n", 14, "call accept does not take 'bogus'"),  # its own line
    ("    sock: a\n", "    sock: a\n    why: because\n", 14, "why explains an expect; add expect"),
    ("port: 7000}\n  - {host: client", "port: 7000, port: 8000}\n  - {host: client", 8, "key 'port' is given twice"),
    ("expect: 10}", "expect: bogus}", 14, "step 4: unknown outcome 'bogus' (allowed: a byte count, EOF"),
    ("flags: SYN", "flags: URG", 16, "'URG' is not a valid flags (allowed: SYN, ACK, FIN, RST, PSH)"),
])
def test_refused_at_the_right_line(old, new, line, fragment):
    message = refused(edit(old, new))
    assert message.startswith(f"x.yaml:{line}: ") and fragment in message, message


def test_a_step_with_an_id_still_answers_to_its_number():
    scenario = load_text(edit("after: acc", "after: 3"), "x.yaml")
    assert scenario.step(3).id == "acc" and scenario.step("acc").number == 3


def test_max_alone_means_at_most():
    rule = load_text(edit("count: 1, why", "max: 0, why"), "x.yaml").packets[0]
    assert (rule.min, rule.max) == (0, 0)


def test_debian_kernel_release_parses_to_its_version():
    assert model.parse_version("6.12.12+deb13-amd64") == (6, 12, 12)


def test_connect_and_packet_rules_may_name_the_unowned_address():
    """`unowned`: an address of the lab's own subnet that no host owns (the runner picks it)."""
    s = load_text(edit("sock: a, to: server,", "sock: a, to: unowned,").replace(
        "{from: client, to: server, flags: SYN", "{from: client, to: unowned, flags: SYN"), "x.yaml")
    assert s.step(2).args["to"] == "unowned" and s.packets[0].dst == "unowned"


def test_a_counter_rule_names_its_host_and_counts_no_packets():
    rule = load_text(BASE + "  - {counter: ListenOverflows, at: server, count: 2, why: w}\n", "x").packets[-1]
    assert (rule.counter, rule.at, rule.wanted, rule.text) == ("ListenOverflows", "server", "2",
                                                                "counter ListenOverflows at server")
    for bad in ("{counter: ListenOverflows, count: 2, why: w}", "{counter: X, at: nobody, why: w}",
                "{counter: X, at: server, from: client, why: w}", "{at: server, why: w}"):
        assert "a counter rule reads `counter` at a host" in refused(BASE + f"  - {bad}\n"), bad


def test_a_packet_rule_may_have_an_id():
    s = load_text(edit("{from: client, to: server, flags: SYN,", "{id: syn, from: client, to: server, flags: SYN,"),
                  "x.yaml")
    assert [r.id for r in s.packets] == ["syn", None]


@pytest.mark.parametrize("old, new, line", [
    ("{from: client, to: server, flags: SYN,", "{id: acc, from: client, to: server, flags: SYN,", 16),   # a step's
    ("{sock: a, after: acc,", "{id: syn, sock: a, after: acc,", 17),
])
def test_rule_ids_share_one_namespace_with_step_ids(old, new, line):
    text = edit("{from: client, to: server, flags: SYN,", "{id: syn, from: client, to: server, flags: SYN,") \
        if "id: syn, sock" in new else BASE
    message = refused(text.replace(old, new, 1))
    assert message.startswith(f"x.yaml:{line}: packet rule {line - 15}: id "), message
    assert "is used twice" in message


@pytest.mark.parametrize("old, new, line, fragment", [
    ("{sock: a, after: acc,", "{sock: a, within: '0-1',", 17, "packet rule 2: within is seconds after the `after`"),
    ("{sock: a, after: acc,", "{sock: a, after: acc, within: {min: 2, max: 1},", 17, "its max may not be below"),
    ("{sock: a, after: acc,", "{sock: a, kernels: [{range: '<6', within: '0-1', why: k}],", 17, "it needs after"),
    ("expect: 10}", "expect: 10, seconds: {min: 2, max: 1}}", 14, "step 4 (client send): a seconds window's max"),
    ("expect: 10}", "expect: 10, kernels: [{range: '<6', seconds: '3-2', why: k}]}", 14, "a seconds window's max"),
    ("expect: 10}", "expect: 10, seconds: fast}", 14, "unknown time window 'fast'"),
    ("expect: 10}", "expect: 10, kernels: [{range: '<6', why: k}]}", 14, "step 4: "),   # neither expect nor seconds
])
def test_time_windows_refused(old, new, line, fragment):
    message = refused(edit(old, new))
    assert message.startswith(f"x.yaml:{line}: "), message
    assert fragment in message, message


def test_time_windows_loaded():
    s = load_text(edit("expect: 10}", "expect: 10, seconds: '0.1-0.5', kernels: [{range: '<6', seconds: {max: 2}, "
                                      "why: k}], families: [{family: 6, seconds: {min: 1}, why: f}]}")
                  .replace("{sock: a, after: acc,", "{sock: a, after: acc, within: {min: 0.2, max: 0.4},"), "x.yaml")
    e = s.step(4).expect
    assert (e.outcomes, e.seconds, e.kernels[0].outcomes, e.kernels[0].seconds) == ((10,), (0.1, 0.5), (10,), (None, 2))
    assert e.for_cell((6, 18, 0), {}, "client", "6").seconds == (1, None)
    assert e.for_cell((5, 10, 0), {}, "client", "4").seconds == (None, 2)
    assert s.packets[1].within == (0.2, 0.4)
    assert "0.2–0.4 s after step acc began" in s.packets[1].text
    assert s.step(3).expect.seconds is None


def test_a_text_the_schema_passed_is_not_checked_again_and_a_refused_one_always_is(tmp_path, monkeypatch):
    import jsonschema
    monkeypatch.setenv("LAB_CACHE", str(tmp_path))
    checked = []
    iter_errors = jsonschema.Draft202012Validator.iter_errors
    def counted(self, doc):  # each document checked (the method is also called on its parts, and on it again)
        if isinstance(doc, dict) and "steps" in doc and not any(d is doc for d in checked):
            checked.append(doc)
        return iter_errors(self, doc)
    monkeypatch.setattr(jsonschema.Draft202012Validator, "iter_errors", counted)
    assert load_text(BASE, "x.yaml").name == load_text(BASE, "x.yaml").name == "x"
    assert len(checked) == 1
    refused = BASE.replace("port: 7000}", "port: seven}", 1)
    for _ in range(2):
        with pytest.raises(ScenarioError, match="x.yaml:8:"):
            load_text(refused, "x.yaml")
    assert len(checked) == 3
