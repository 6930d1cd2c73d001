"""Did repeated runs of a scenario agree? Outcome distributions per step and packet rule.

    >>> rows = distributions([{"step 1": "EOF", "rule 1": "holds"}, {"step 1": "EOF", "rule 1": "fails"}])
    >>> [(r.item, r.stable) for r in rows]
    [('step 1', True), ('rule 1', False)]
"""

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Distribution:
    item: str
    counts: tuple           # ((outcome, how many runs), ...) most common first

    @property
    def stable(self):
        return len(self.counts) == 1

    @property
    def text(self):
        return ", ".join(f"{outcome} ×{n}" for outcome, n in self.counts)


def outcomes_of(result):
    """{item: outcome} for one run (a runner.RunResult or a record.RunRecord): each step's observed
    outcome, each packet rule's pass or fail (a count may vary, as retransmissions on a lossy link
    do, while the rule holds)."""
    v = result.verdict
    items = {s.key: str(s.observed) for s in v.steps}
    items.update({f"rule {i + 1}: {r.text}": "holds" if r.passed else f"fails ({r.count} packets)"
                  for i, r in enumerate(v.rules)})
    items.update({e.key: "explained" if e.explained else "UNEXPLAINED" for e in v.evidence})
    items["verdict"] = "skipped" if result.skipped else "passed" if v.passed else "failed"
    return items


def distributions(runs):
    """runs: [{item: outcome}] → [Distribution] in the order items first appear."""
    order = list(dict.fromkeys(item for run in runs for item in run))
    return [Distribution(item, tuple(Counter(run.get(item, "absent") for run in runs).most_common()))
            for item in order]
