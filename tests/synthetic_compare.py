"""A synthetic compare matrix of any size, for the compare page's benchmark and browser test.

Every column is a kernel × runtime × family cell, as compare.build names them; per scenario
of ROWS_PER_SCENARIO rows, one row in ten differs (kernels before 6.5 resend once, later ones
twice): the even ones explained, their kernel entry naming a commit, the odd ones unexplained.
One row in fifty agrees on every column but not with its expectation, and one in
ninety-seven ran over IPv4 only. The rest agree.
"""

from lab.reports.compare import Cell, Matrix

KERNELS = ("5.10.0", "6.1.0", "6.12.0", "7.2.0")
RUNTIMES = ("python", "c", "go", "node", "java-nio", "java-socket")
FAMILIES = ("ipv4", "ipv6")
ROWS_PER_SCENARIO = 20
COMMIT = "ccce324dabfe"


def kind(i):
    """What row i is: differs-explained, differs-unexplained, failing, ipv4-only or agrees."""
    if i % 10 == 0:
        return "differs-explained" if i % 20 == 0 else "differs-unexplained"
    if i % 50 == 5:
        return "failing"
    return "ipv4-only" if i % 97 == 3 else "agrees"


def matrix(rows=10_000, kernels=KERNELS, runtimes=RUNTIMES, families=FAMILIES):
    columns = [f"{k} {r} {f}" for k in kernels for r in runtimes for f in families]
    table = {}
    for i in range(rows):
        scenario, what = f"scenario-{i // ROWS_PER_SCENARIO:04d}", kind(i)
        row = {"expected": {}, "why": {}, "open": False, "cells": {}}
        for c in columns:
            old = c.split(" ")[0] in ("5.10.0", "6.1.0")
            if what == "ipv4-only" and c.endswith("ipv6"):
                continue
            if what.startswith("differs"):
                outcome = "1" if old else "2"
                row["expected"][c] = outcome
                row["why"][c] = (f"Before 6.5 (commit {COMMIT}) the SYN is resent once." if old else
                                 "Resent twice.") if what == "differs-explained" else "Resent."
            else:
                outcome = "EOF"
                row["expected"][c] = "ECONNRESET" if what == "failing" else "EOF"
                row["why"][c] = "The peer closed."
            row["cells"][c] = Cell([outcome], [outcome == row["expected"][c]])
        table[(scenario, f"step {i % ROWS_PER_SCENARIO + 1} client recv sock=a")] = row
    return Matrix(columns, table, {})
