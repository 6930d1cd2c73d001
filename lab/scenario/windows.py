"""Time windows as a scenario writes them: how long a step's call takes (`seconds`), when a packet
rule's packets leave (`within`, seconds after its `after` step's start).

Either `{min: 2.9, max: 3.5}` (either end may be left out: open) or the string "2.9-3.5".

    >>> window({"min": 2.9, "max": 3.5}), window("0.2-0.4"), window({"max": 0.01}), window(None)
    ((2.9, 3.5), (0.2, 0.4), (None, 0.01), None)
"""

import re

NUMBER = {"type": "number", "minimum": 0}
WINDOW = {"title": "time window", "description": "seconds: {min: 2.9, max: 3.5} (either end may be left out) "
                                                "or \"2.9-3.5\"",
          "oneOf": [{"type": "object", "additionalProperties": False, "minProperties": 1,
                     "properties": {"min": NUMBER, "max": NUMBER}},
                    {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*-\s*[0-9]+(\.[0-9]+)?\s*$"}]}


def window(value):
    """(low, high) in seconds, either None for an open end; None when not given."""
    if value is None:
        return None
    if isinstance(value, str):
        low, high = (float(x) for x in re.split(r"\s*-\s*", value.strip()))
        return low, high
    return value.get("min"), value.get("max")


def backwards(value):
    """Is the window's max below its min (which the loader refuses)?"""
    w = window(value)
    return w is not None and None not in w and w[1] < w[0]


def seconds_text(window):
    """A time window (low, high) in seconds as a reader reads it; either end may be None.

    >>> seconds_text((2.9, 3.5)), seconds_text((0.2, None)), seconds_text((None, 0.01))
    ('2.9–3.5 s', '≥0.2 s', '≤0.01 s')
    """
    low, high = window
    return f"{low:g}–{high:g} s" if None not in window else f"≥{low:g} s" if high is None else f"≤{high:g} s"


def inside(window, value):
    """Is value (seconds) in the window (low, high), either end None for open?"""
    return (window[0] is None or window[0] <= value) and (window[1] is None or value <= window[1])


def wanted(step):
    """A step verdict's expected outcomes, and its time when the step gives one: "ETIMEDOUT in 3–3.1 s"."""
    return " or ".join(map(str, step.expected)) + (f" in {seconds_text(step.seconds)}" if step.seconds else "")


def seen(step):
    """A step verdict's observed outcome, with its time when the step expects one."""
    return f"{step.observed}" + (f" in {step.took:.3f} s" if step.seconds and step.took is not None else "")
