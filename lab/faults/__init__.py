"""Faults by name: every Fault class with a `kind`, found in this package's modules.

A fault kind is one class in one file here: its `kind`, its `args` and its
docstring are what scenarios, the loader and the schema know of it; apply()
and revert() are what it does. A new module is found without being listed.
`heal` is not a fault of its own: it reverts the fault of an earlier step.

    >>> FAULTS["drop"].__name__, KINDS[-1].name
    ('Drop', 'heal')
"""

import importlib
import pkgutil

from lab.faults.base import Fault
from lab.scenario.kinds import Arg, Kind, first_paragraph

HEAL = Kind("fault", "heal", "Revert the fault of step `of` (faults still in place are reverted at the end anyway).",
            (Arg("of", {"type": "string"}, "The id of the step whose fault to revert.", required=True),))


def kind_of(cls):
    """The scenario-facing declaration of a Fault class."""
    return Kind("fault", cls.kind, first_paragraph(cls.__doc__), cls.args, only_in=cls.only_in)


def declared_in(module):
    """{kind: class} for the Fault classes a module declares (not those it imports)."""
    return {value.kind: value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Fault) and value.kind
            and value.__module__ == module.__name__}


def discover():
    """{kind: class} for every fault kind declared in a module of this package."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        found.update(declared_in(importlib.import_module(f"{__name__}.{info.name}")))
    return found


FAULTS = discover()
KINDS = (*(kind_of(cls) for cls in FAULTS.values()), HEAL)


def build(step):
    """The fault object a step asks for, its arguments passed by their parameter names."""
    cls = FAULTS[step.fault]
    params = {a.name: a.param or a.name for a in cls.args}
    return cls(**{params[name]: value for name, value in step.args.items()})
