"""Faults by name: `build(step)` makes the fault object a scenario step asks for."""

from lab.faults.process import Kill

FAULTS = {"kill": Kill}


def build(step):
    return FAULTS[step.fault](**step.args)
