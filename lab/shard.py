"""Which cells a run covers, and a shard of them: one of N disjoint parts, so that N CI jobs
can share a matrix and `lab compare` can put their runs back together.

A cell is a scenario in a runtime over an address family (lab/cell.py), and in
`lab matrix` on a kernel. `cells_of` says which cells the pytest plugin collects
for a scenario file; `lab matrix --shard` and the plugin's `--lab-shard` both
take their share of that list with `Shard.take`.

The split: the cells sorted by (scenario, kernel, runtime, family) and dealt
round-robin, shard I of N taking the cells at positions I-1, I-1+N, I-1+2N, ...
So the shards 1/N .. N/N together hold every cell exactly once, and every job
given the same command computes the same split, with no state shared. Why
round-robin over that order: a cell's cost is mostly its scenario's own timers
(drop-syn's steps take 14 s here, connect-vanished-host's 13 s, crash-reset's
0.3 s), the same on every kernel and runtime; dealing each scenario's cells in
turn gives every shard about 1/N of each scenario, so shards cost about the
same, where contiguous blocks would hand the slow scenarios to one shard. The
kernel comes before the runtime and the family, not last (where 4 shards of 4
kernels would each take one kernel's whole catalogue, in one VM), so a shard
takes about 1/N of each kernel's cells and no VM runs much more than its share
(its timeout, LAB_VM_TIMEOUT, is per catalogue's worth). The price is that a
shard boots each kernel that any of its
cells names, every kernel when the matrix is large (7-11 s a boot under TCG);
a kernel none of its cells names is not booted.

    >>> s = Shard.parse("2/3")
    >>> s.take([("b", "6.1"), ("a", "6.1"), ("a", "5.10"), ("b", "5.10")])
    [('a', '6.1')]
    >>> [Shard(i, 3).take(range(7)) for i in (1, 2, 3)]
    [[0, 3, 6], [1, 4], [2, 5]]
"""

from dataclasses import dataclass

from lab import runtimes
from lab.cell import runtime_label
from lab.errors import ScenarioError


@dataclass(frozen=True)
class Shard:
    index: int   # 1..count
    count: int

    @classmethod
    def parse(cls, text):
        """"I/N" with 1 <= I <= N (ValueError saying what is wrong otherwise).

        >>> Shard.parse("3/2")
        Traceback (most recent call last):
        ...
        ValueError: a shard is I/N with 1 <= I <= N, as 1/4; not '3/2'
        """
        index, _, count = str(text).partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if shard is None or not 1 <= shard.index <= shard.count:
            raise ValueError(f"a shard is I/N with 1 <= I <= N, as 1/4; not {text!r}")
        return shard

    def __str__(self):
        return f"{self.index}/{self.count}"

    def take(self, cells):
        """This shard's cells, in their sorted order (cells: tuples that sort)."""
        return [cell for i, cell in enumerate(sorted(cells)) if i % self.count == self.index - 1]


def cells_of(scenario, wanted=(), families=()):
    """(runtime, family, runtime label) of each item the pytest plugin collects for `scenario`
    given `--lab-runtime`s `wanted` and `--lab-family`s `families`: one per runtime and
    family, but one runtime only when every host names its own (the option sets no host)."""
    wanted = list(wanted)
    if all(opts.runtime for opts in scenario.hosts.values()):
        wanted = wanted[:1]
    for runtime in wanted or [None]:
        label = runtime_label({n: o.runtime for n, o in runtimes.assign(scenario, runtime).hosts.items()})
        for family in families or ["4"]:
            yield runtime, family, label


def catalogue_cells(names=(), wanted=(), families=()):
    """(scenario, runtime label, family) of every item the plugin collects from the catalogue (or
    the named scenarios); a scenario that does not load is an error here, as no shard could
    say which of them reports it."""
    from lab.scenario.load import known_names, load, path_for
    cells = []
    for name in names or known_names():
        try:
            scenario = load(path_for(name))
        except ScenarioError as exc:
            raise ScenarioError(f"cannot split the cells into shards: {exc}") from None
        cells += [(scenario.name, label, family) for _, family, label in cells_of(scenario, wanted, families)]
    return cells
