"""The run record: what reports/result.py writes reads back as the run it was, and the one rule
for a socket's connection, on the recorded crash-reset run (tests/data/crash-reset)."""

import json
from pathlib import Path

from lab import packets
from lab.record import RunRecord
from lab.reports import result as result_file
from lab.runner import RunResult
from lab.scenario.load import load, path_for
from lab.verdict import judge

DATA = Path(__file__).resolve().parent / "data" / "crash-reset"


def recorded_run():
    observed = json.loads((DATA / "observed.json").read_text())
    scenario, addresses = load(path_for("crash-reset")), observed["addresses"]
    run = RunRecord.from_dict({"observations": observed["observations"]})
    segments = {h: packets.parse((DATA / f"{h}.pcap").read_bytes(), set(addresses.values()))
                for h in ("server", "client")}
    return RunResult(scenario=scenario, run_id=observed["run_id"], env={"kernel": "6.18.0", "backend": "docker",
                     "engine": "20.10"}, timings={}, observations=list(run.observations),
                     verdict=judge(scenario, (6, 18, 0), run.observations, segments, addresses), agent_logs={},
                     pcaps={}, addresses=addresses, segments=segments)


def test_a_written_record_reads_back_as_the_run_it_was():
    res = recorded_run()
    back = RunRecord.from_dict(json.loads(json.dumps(result_file.record(res))))
    assert back.verdict == res.verdict and back.verdict.passed and back.status == "passed"
    assert back.observations == tuple(res.observations)
    assert back.packets == {h: tuple(segs) for h, segs in res.segments.items()}
    assert (back.name, back.hosts, back.environment["kernel"]) == ("crash-reset", ("server", "client"), "6.18.0")
    # the same connections, whether from the scenario's hosts while judging or the record's afterwards
    live = RunRecord.of(res.observations, res.segments, res.addresses,
                        {s.number: s.host for s in res.scenario.steps})
    assert back.connections == live.connections


def test_each_socket_is_the_connection_its_own_connect_or_accept_reported():
    res = recorded_run()
    run = RunRecord.of(res.observations, res.segments, res.addresses, {s.number: s.host for s in res.scenario.steps})
    opened = [s for s in res.scenario.steps if s.call in ("connect", "accept")]
    assert [(c.step, c.host, c.sock) for c in run.connections] == \
        [(s.number, s.host, s.args["sock"]) for s in opened]
    a, b = run.connection("a", "client"), run.connection("b", "client")
    assert a.ends == run.connection("a", "server").ends != b.ends == run.connection("b", "server").ends
    assert a.local == (res.addresses["client"], a.local[1]) and a.peer == (res.addresses["server"], 7000)
    first = opened[0].number
    assert run.connection("a", "client", at=first - 1) is None and run.connection("a", "client", at=first) == a
    assert run.connection("conn") is None and run.host_of(a.peer[0]) == "server"


def test_an_incomplete_record_says_so():
    run = RunRecord.from_dict({"format": 1, "complete": False, "run_id": "r",
                               "scenario": {"name": "x", "path": "x.yaml", "summary": "s"}})
    assert (run.complete, run.status, run.verdict, run.name) == (False, "incomplete", None, "x")
