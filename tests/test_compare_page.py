"""The compare page on a small matrix: differing rows first (the unexplained before the explained,
each with its reasons and the kernel commit a reason names), then rows that agree but fail, then
the agreeing rows folded by scenario with their counts; the page needs nothing from outside."""

import doctest
import re

from lab.record import RunRecord
from lab.reports import compare, compare_page
from lab.reports.compare import UNEXPLAINED, Cell, Matrix

COLUMNS = ["5.10.0 c ipv4", "5.10.0 c ipv6", "6.12.0 c ipv4", "6.12.0 c ipv6"]


def row(outcomes, expected, why=lambda column: "same", open_count=False):
    """A matrix row over COLUMNS: outcomes and expected per column (one value: every column); an open
    count (≥1) holds everywhere."""
    outcomes = outcomes if isinstance(outcomes, dict) else dict.fromkeys(COLUMNS, outcomes)
    expected = expected if isinstance(expected, dict) else dict.fromkeys(outcomes, expected)
    return {"expected": expected, "why": {c: why(c) for c in outcomes}, "open": open_count,
            "cells": {c: Cell([o], [open_count or o == expected[c]]) for c, o in outcomes.items()}}


def by_kernel(old, new):
    return {c: old if c.startswith("5.10") else new for c in COLUMNS}


def small_matrix():
    syn = "Before linear SYN timeouts (6.5, commit ccce324dabfe) the SYN is resent once."
    return Matrix(COLUMNS, {
        ("alpha", "step 1 client connect"): row("0", "0"),
        ("alpha", "packets SYN client→server"): row(by_kernel("1", "2"), by_kernel("1", "2"),
                                                    why=lambda c: syn if c.startswith("5.10") else "Resent twice."),
        ("alpha", "step 2 client recv <b>"): row("EOF", "EOF"),
        ("beta", "step 1 server recv"): row("EOF", "ECONNRESET"),
        ("beta", "step 2 server send"): row("EPIPE", "EPIPE"),
        ("gamma", "step 1 client recv"): row(by_kernel("EOF", "ECONNRESET"), "EOF"),
        ("gamma", "packets RST client→server"): row(by_kernel("1", "3"), "≥1", open_count=True),
    })


def test_sections_put_the_unexplained_difference_first_then_the_explained_then_failing_then_folded():
    differing, reasons, failing, agree = compare_page.sections(small_matrix())
    assert differing == [("gamma", "step 1 client recv"), ("alpha", "packets SYN client→server")]
    assert list(reasons[differing[0]]) == [UNEXPLAINED]
    assert reasons[differing[1]]["Resent twice."] == ["6.12.0 c ipv4", "6.12.0 c ipv6"]
    assert failing == [("beta", "step 1 server recv")]
    assert {s: [k[1] for k, _ in keys] for s, keys in agree.items()} == {
        "alpha": ["step 1 client connect", "step 2 client recv <b>"], "beta": ["step 2 server send"],
        "gamma": ["packets RST client→server"]}   # an open count that varies but holds everywhere agrees


def test_the_page_reads_differing_rows_then_failing_then_closed_folds_with_counts():
    page = compare_page.as_html(small_matrix())
    unexplained = page.index('<tr class="differs unexplained" data-s="gamma"')
    explained = page.index('<tr class="differs" data-s="alpha"')
    failing = page.index('<tr data-s="beta">')
    folds = [m.start() for m in re.finditer(r"<details data-s=", page)]
    assert unexplained < explained < failing < folds[0] and len(folds) == 3
    assert "<details open" not in page
    assert "<b>alpha</b><span class=\"count\"> 2 rows agree on every column</span>" in page
    assert f"<b>every column</b>: {UNEXPLAINED}" in page
    assert ('<b>kernel 5.10.0</b>: Before linear SYN timeouts (6.5, <a href="https://git.kernel.org/linus/'
            'ccce324dabfe" class="commit">commit ccce324dabfe</a>) the SYN is resent once.') in page
    assert "step 2 client recv &lt;b&gt;" in page and "<b>>" not in page


def test_without_script_every_row_is_on_the_page_and_nothing_is_fetched():
    page = compare_page.as_html(small_matrix())
    assert '<form id="filters" hidden="">' in page            # the script shows it
    assert page.count("<tr") == 1 + 2 + 1 + 1 + 4 + 3          # heads: differ, failing, 3 folds; 7 rows
    assert not re.search(r"<link|\ssrc=|@import|url\(", page)
    for axis in ("scenario", "kernel", "family"):
        assert f'<select name="{axis}">' in page
    assert '<select name="runtime">' not in page                # one runtime: nothing to choose


def test_a_columns_axes_are_those_compare_named_it_by():
    def record(kernel, runtime, family, machine):
        return RunRecord.from_dict({
            "complete": True, "scenario": {"name": "crash-reset"},
            "environment": {"kernel": kernel, "backend": "docker", "machine": machine},
            "cell": {"scenario": "crash-reset", "runtime": runtime, "family": family, "kernel": kernel},
            "verdict": {"steps": [], "rules": [], "evidence": []}})
    records = [record(k, r, f, m) for k, r, f, m in [("6.1.0", "go", "6", "a"), ("6.1.0", "go", "6", "b"),
                                                     ("7.2.0", "server=java-nio,client=c", "4", "a")]]
    matrix = compare.build(records)
    go, mixed = {"kernel": "6.1.0", "runtime": "go", "family": "ipv6"}, \
        {"kernel": "7.2.0", "runtime": "server=java-nio,client=c", "family": "ipv4"}
    assert {c: compare_page.axes(c) for c in matrix.columns} == {
        "6.1.0 go ipv6 @ a": go, "6.1.0 go ipv6 @ b": go, "7.2.0 server=java-nio,client=c ipv4 @ a": mixed}
    assert compare.as_html(matrix) == compare_page.as_html(matrix)


def test_docstring_examples():
    failed, attempted = doctest.testmod(compare_page)
    assert attempted > 0 and failed == 0
