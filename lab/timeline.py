"""Calls, faults and packets of one run merged into one ordered timeline.

Reads a result.json record (so it works on any run directory, also one
copied from another machine): every event carries CLOCK_REALTIME, the clock
tcpdump stamps packets with, so one sort puts them in order.

Each packet is taken once: from its sender's capture when the sender was
captured (what it sent), else from its receiver's (what arrived).

    >>> rows = build({"addresses": {"a": "1.1.1.1", "b": "1.1.1.2"}, "observations": [],
    ...               "packets": {"a": [{"ts": 1.0, "src": "1.1.1.1", "dst": "1.1.1.2", "summary": "SYN",
    ...                                  "flags": ["SYN"], "icmp": None, "arp": None}]},
    ...               "verdict": {"steps": [], "evidence": []}})
    >>> [(r.kind, r.src, r.dst) for r in rows]
    [('packet', 'a', 'b')]
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
    noise: bool = False       # ARP: hidden unless all packets are asked for
    explains: tuple = field(default_factory=tuple)   # steps whose outcome this packet explains


def host_of(address, addresses):
    return next((name for name, a in addresses.items() if a == address), address)


def packet_rows(record, explained_by):
    addresses = record["addresses"]
    rows, seen = [], set()
    captures = record.get("packets", {})
    for host, packets in captures.items():
        for p in packets:
            src, dst = host_of(p["src"], addresses), host_of(p["dst"], addresses)
            sender_captured = src in captures
            if (sender_captured and host != src) or (not sender_captured and host != dst):
                continue
            key = (p["summary"], round(p["ts"], 6))
            if key in seen:
                continue
            seen.add(key)
            rows.append(Row(ts=p["ts"], kind="packet", text=p["summary"].split(" ", 3)[-1] if not p.get("arp")
                            else p["summary"], src=src, dst=dst, flags=tuple(p.get("flags", ())),
                            noise=bool(p.get("arp")), explains=tuple(explained_by.get(p["summary"], ()))))
    return rows


def build(record, include_noise=True):
    explained_by = {}
    for e in record["verdict"].get("evidence", []):
        for summary in e["packets"][:1]:
            explained_by.setdefault(summary, []).append(e["step"])
    steps = {s["number"]: s for s in record["verdict"]["steps"]}
    rows = packet_rows(record, explained_by)
    for o in record["observations"]:
        step = steps.get(o["step"], {})
        if o["start"] is None:
            continue
        kind = "fault" if "fault" in o["event"] else "call"
        text = o["event"]["fault"] if kind == "fault" else f"{step.get('action', o['event'].get('op'))} → {o['outcome']}"
        # a call sits where it returned (when its result was known); a fault where it began
        at = o["end"] if kind == "call" and o["end"] is not None else o["start"]
        rows.append(Row(ts=at, kind=kind, text=text, src=step.get("host", "?"), step=o["step"],
                        passed=step.get("passed")))
    rows.sort(key=lambda r: (r.ts, r.kind != "call"))
    return [r for r in rows if include_noise or not r.noise]


def fault_spans(record, rows):
    """[(host, first row index, last row index, text)]: each fault from its step to its heal or the end."""
    index = {r.step: i for i, r in enumerate(rows) if r.step is not None}
    heals = {o["event"]["heals"]: o["step"] for o in record["observations"] if "heals" in o["event"]}
    spans = []
    for o in record["observations"]:
        event = o["event"]
        if "fault" not in event or "heals" in event or o["step"] not in index:
            continue
        healed_at = heals.get(event.get("label"))
        end = index[healed_at] if healed_at in index else len(rows) - 1
        spans.append((rows[index[o["step"]]].src, index[o["step"]], end, event["fault"]))
    return spans
