"""A cell: one scenario on one kernel, in one runtime, over one address family.

The cell is what the lab counts and compares: result.json records it, `lab
compare` puts cells side by side, `lab words` and JUnit ids name them. Its key
is written here once.

A run's runtime is its hosts' runtimes: one name when they agree (the usual
case, set by `--runtime`), else each host's, as `server=java-nio,client=c`.

    >>> cell = Cell("crash-reset", "java-nio", "4", "6.18.44")
    >>> cell.key
    'crash-reset[java-nio,ipv4,6.18.44]'
    >>> runtime_label({"server": "java-nio", "client": "c"}), runtime_label({"a": "c", "b": "c"})
    ('server=java-nio,client=c', 'c')
"""

from dataclasses import dataclass

FAMILIES = ("4", "6")   # IPv4, IPv6
DEFAULT_FAMILY = "4"


def families(choice):
    """The families a run of `--family` covers: "4", "6" or "both".

    >>> families("both"), families("6")
    (('4', '6'), ('6',))
    """
    return FAMILIES if choice == "both" else (str(choice),)


def runtime_label(runtimes):
    """{host: runtime} as one name."""
    names = set(runtimes.values())
    if len(names) == 1:
        return names.pop()
    return ",".join(f"{host}={name}" for host, name in runtimes.items())


@dataclass(frozen=True)
class Cell:
    scenario: str
    runtime: str
    family: str
    kernel: str

    @property
    def key(self):
        return f"{self.scenario}[{self.runtime},ipv{self.family},{self.kernel}]"

    def as_dict(self):
        return {"scenario": self.scenario, "runtime": self.runtime, "family": self.family,
                "kernel": self.kernel, "key": self.key}
