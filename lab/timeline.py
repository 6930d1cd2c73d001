"""Calls, faults and packets of one run merged into one ordered timeline.

Reads a run's record (record.RunRecord, as result.json holds it: so it works
on any run directory, also one copied from another machine): every event carries CLOCK_REALTIME, the clock
tcpdump stamps packets with, so one sort puts them in order.

Each packet is taken once: from its sender's capture when the sender was
captured (what it sent), else from its receiver's (what arrived).

    >>> from lab.record import RunRecord
    >>> rows = build(RunRecord.from_dict({"addresses": {"a": "1.1.1.1", "b": "1.1.1.2"}, "packets": {"a": [
    ...     {"ts": 1.0, "src": "1.1.1.1", "dst": "1.1.1.2", "sport": 1, "dport": 2, "flags": ["SYN"],
    ...      "seq": 0, "ack": 0, "length": 0}]}, "verdict": {"steps": [], "rules": [], "evidence": []}}))
    >>> [(r.kind, r.src, r.dst, r.text) for r in rows]
    [('packet', 'a', 'b', 'SYN seq=0 ack=0 len=0')]
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    ts: float
    kind: str                 # "packet", "call", "fault"
    text: str
    src: str                  # host name (for a call or fault: its host)
    dst: str | None = None    # packets only
    step: int | None = None
    passed: bool | None = None
    flags: tuple = ()
    noise: bool = False       # ARP, IPv6 ND: hidden unless all packets are asked for
    explains: tuple = field(default_factory=tuple)   # steps whose outcome this packet explains


def packet_rows(record, explained_by):
    rows, seen = [], set()
    for host, packets in record.packets.items():
        for p in packets:
            src, dst = record.host_of(p.src) or p.src, record.host_of(p.dst) or p.dst
            sender_captured = src in record.packets
            if (sender_captured and host != src) or (not sender_captured and host != dst):
                continue
            key = (p.summary, round(p.ts, 6))
            if key in seen:
                continue
            seen.add(key)
            rows.append(Row(ts=p.ts, kind="packet", text=p.summary if p.neighbour else p.summary.split(" ", 3)[-1],
                            src=src, dst=dst, flags=p.flags, noise=p.neighbour,
                            explains=tuple(explained_by.get(p.summary, ()))))
    return rows


def build(record, include_noise=True):
    """record: a complete record.RunRecord."""
    explained_by = {}
    for e in record.verdict.evidence:
        for summary in e.packets[:1]:
            explained_by.setdefault(summary, []).append(e.step)
    steps = {s.number: s for s in record.verdict.steps}
    rows = packet_rows(record, explained_by)
    for o in record.observations:
        step = steps.get(o.number)
        if o.start is None:
            continue
        kind = "fault" if "fault" in o.event else "call"
        text = o.event["fault"] if kind == "fault" else f"{step.action if step else o.event.get('op')} → {o.outcome}"
        # a call sits where it returned (when its result was known); a fault where it began
        at = o.end if kind == "call" and o.end is not None else o.start
        rows.append(Row(ts=at, kind=kind, text=text, src=step.host if step else "?", step=o.number,
                        passed=step.passed if step else None))
    rows.sort(key=lambda r: (r.ts, r.kind != "call"))
    return [r for r in rows if include_noise or not r.noise]


def fault_spans(record, rows):
    """[(host, first row index, last row index, text)]: each fault from its step to its heal or the end."""
    index = {r.step: i for i, r in enumerate(rows) if r.step is not None}
    heals = {o.event["heals"]: o.number for o in record.observations if "heals" in o.event}
    spans = []
    for o in record.observations:
        event = o.event
        if "fault" not in event or "heals" in event or o.number not in index:
            continue
        healed_at = heals.get(event.get("label"))
        end = index[healed_at] if healed_at in index else len(rows) - 1
        spans.append((rows[index[o.number]].src, index[o.number], end, event["fault"]))
    return spans
