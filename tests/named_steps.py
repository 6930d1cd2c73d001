"""Tests name a scenario's steps as a reader would, never by number: a step's number
changes whenever a step is inserted before it, its id and its place in the story do not.
For example, crash-reset's read after its first write: step(crash, after="write-a", call="recv").
"""

FIELDS = ("id", "host", "call", "wait", "fault")


def step(scenario, after=None, **fields):
    """The one step whose fields (id, host, call, wait, fault, or an argument such as sock)
    are these; with after (a step's label), the first such step after that one."""
    steps = scenario.steps
    if after is not None:
        steps = steps[scenario.step(after).number:]
    found = [s for s in steps if all((getattr(s, k) if k in FIELDS else s.args.get(k)) == v for k, v in fields.items())]
    assert found and (after is not None or len(found) == 1), f"{scenario.name}: {len(found)} steps with {fields}"
    return found[0]


def observation(res, after=None, **fields):
    """The Observation of that step in a runner.RunResult."""
    number = step(res.scenario, after, **fields).number
    return next(o for o in res.observations if o.number == number)
