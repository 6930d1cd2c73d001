"""The words a step kind is declared in: its arguments, their types, its doc.

A kind is a call the host's agent makes, a wait on a condition, or a fault.
Each is declared once, in its own file: calls and waits in
lab/scenario/calls.py (every runtime's agent implements them; the Python
one is lab/sockops.py), each fault on its class in lab/faults/. The loader's rules and the
JSON Schema (lab/scenario/schema.py) are both generated from these
declarations, so the schema refuses what the loader refuses.

A type is a JSON Schema fragment. A `title` names the type in messages
("unknown socket option 'SO_FOO' (allowed: ...)"). An argument of type HOST
names a host of the scenario: the loader checks that it exists, which the
schema cannot (it knows no document's hosts).

    >>> close = Kind("call", "close", "Close the socket.", (Arg("sock", SOCK),), outcome=True)
    >>> close.takes, close.keys
    (['sock'], ['host', 'id', 'timeout', 'seconds', 'call', 'expect', 'why', 'kernels', 'runtimes', 'families', 'sock'])
    >>> Kinds([close, Kind("wait", "acked", "Until all is acknowledged.")]).with_outcome()
    'calls'
"""

from dataclasses import dataclass

HOST = {"type": "string", "title": "host", "description": "A host of this scenario."}
UNOWNED = "unowned"  # an address of the lab's own subnet that no host owns: nothing answers its ARP
TARGET = {"type": "string", "title": "host", "description": f"A host of this scenario, or {UNOWNED}."}
SOCK = {"type": "string", "pattern": "^[a-z][a-z0-9]*$",
        "description": "The socket's name (default conn; a listener's: listener)."}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
BYTES = {"type": "integer", "minimum": 1}
BOOL = {"type": "boolean"}
DURATION = {"type": "string", "pattern": "^[0-9]+(ms|s|us)$"}

COMMON = ("host", "id", "timeout", "seconds")   # every step takes these
OUTCOME_KEYS = ("expect", "why", "kernels", "runtimes", "families")   # steps with an outcome take these
FAMILIES = ("call", "wait", "fault")


@dataclass(frozen=True)
class Arg:
    name: str
    type: dict
    doc: str = ""
    required: bool = False
    param: str | None = None   # the Python parameter it is passed as, where the name is a keyword ("with")

    @property
    def schema(self):
        return {**self.type, "description": self.doc} if self.doc else dict(self.type)


@dataclass(frozen=True)
class Kind:
    family: str                # call, wait or fault
    name: str
    doc: str                   # one paragraph: what it does, in the user's words
    args: tuple = ()           # of Arg
    outcome: bool = False      # takes expect (calls, and a wait for the program's exit)
    only_in: tuple = ()        # of (argument, its values, the one address family they exist in): the
                               # schema makes a scenario with such a step say that family

    @property
    def takes(self):
        return [a.name for a in self.args]

    @property
    def needs(self):
        return [a.name for a in self.args if a.required]

    @property
    def keys(self):
        """Every key a step of this kind may have."""
        return [*COMMON, self.family, *(OUTCOME_KEYS if self.outcome else ()), *self.takes]

    @property
    def hosts(self):
        """The arguments that name a host of the scenario (or, for a TARGET, `unowned`)."""
        return [a.name for a in self.args if a.type is HOST or a.type is TARGET]

    @property
    def targets(self):
        """The arguments that may name `unowned` instead of a host."""
        return [a.name for a in self.args if a.type is TARGET]


def first_paragraph(text):
    """A class docstring's first paragraph on one line: the doc of a kind declared on a class."""
    return " ".join((text or "").strip().split("\n\n")[0].split())


class Kinds:
    """The kinds a scenario may use, in declaration order; one per (family, name)."""

    def __init__(self, kinds):
        self.all = tuple(kinds)
        self.by_key = {(k.family, k.name): k for k in self.all}
        if len(self.by_key) != len(self.all):
            raise ValueError("a step kind is declared twice")

    def get(self, family, name):
        return self.by_key.get((family, name))

    def names(self, family):
        return [k.name for k in self.all if k.family == family]

    def adding(self, *kinds):
        """These kinds and more (a test's, or a plug-in's)."""
        return Kinds(self.all + kinds)

    def with_outcome(self):
        """Who takes expect, as a user would say it: "calls and wait exit"."""
        whole = [f for f in FAMILIES if self.names(f) and all(k.outcome for k in self.all if k.family == f)]
        parts = [f"{f}s" for f in whole]
        parts += [f"{k.family} {k.name}" for k in self.all if k.outcome and k.family not in whole]
        return " and ".join(parts)
