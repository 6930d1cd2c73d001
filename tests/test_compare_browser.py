"""The compare page of a synthetic 10,000-row matrix (48 columns: 4 kernels × 6 runtimes × 2
families; tests/synthetic_compare.py), opened in headless Chromium as a reader opens it: the
rows that differ come first, with their reasons, the agreeing rows are folded (closed) by
scenario, and a filter taken from the address hides rows and columns. The page logs no console
error; a screenshot is kept in runs/ (CI keeps runs/ as its artifacts). Its speed is the
benchmark's (tests/bench_compare.py), not this test's."""

import re

import pytest

from lab.reports import compare_page
from lab.runner import RUNS
from synthetic_compare import ROWS_PER_SCENARIO, kind, matrix
from test_report_browser import browse, chromium

ROWS = 10_000
pytestmark = pytest.mark.slow   # Chromium parses 2.7 MB three times: a minute on a busy 2-core machine


def test_the_10000_row_page_shows_what_differs_first_folds_the_rest_and_filters(tmp_path):
    browser = chromium()
    page = tmp_path / "compare.html"
    page.write_text(compare_page.as_html(matrix(ROWS)))

    dom = browse(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-500:]
    html = dom.stdout
    assert not [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert '<form id="filters">' in html, "the script shows the filters"
    assert f"Showing {ROWS} of {ROWS} rows." in html
    body = html[html.index("<body"):]
    differing = [m.start() for m in re.finditer(r'<tr class="differs', body)]
    folds = [m.start() for m in re.finditer(r"<details data-s=", body)]
    assert len(differing) == ROWS // 10 and len(folds) == ROWS // ROWS_PER_SCENARIO
    assert max(differing) < min(folds), "every differing row comes before the folded ones"
    assert body.index('class="differs unexplained"') < body.index('<tr class="differs" ')
    assert "unexplained difference" in body and 'href="https://git.kernel.org/linus/ccce324dabfe"' in body
    assert "<details open" not in body and ' hidden=""' not in body[:min(folds)]

    # One scenario, one kernel and runtime: its two rows that differ (by kernel) differ no longer.
    filtered = browse(browser, page, "--dump-dom", fragment="#scenario=scenario-0003&kernel=6.1.0&runtime=c", timeout=300)
    html = filtered.stdout
    assert filtered.returncode == 0, filtered.stderr[-500:]
    shown = re.search(r'<p id="shown">Showing (\d+) of (\d+) rows; (\d+) differing rows hidden', html)
    assert shown and shown.groups() == (str(ROWS_PER_SCENARIO - 2), str(ROWS), "2")
    rows = re.findall(r'<tr (?:class="[^"]*" )?data-s="([^"]+)"( hidden="")?>', html)
    assert len(rows) == ROWS // 10 + ROWS // 50 and all(hidden for _, hidden in rows)
    folds = re.findall(r'<details data-s="([^"]+)" data-n="\d+"( hidden="")?>', html)
    assert [s for s, hidden in folds if not hidden] == ["scenario-0003"] and len(folds) == ROWS // ROWS_PER_SCENARIO
    # columns: kernel-major, then runtime, then family; nth-child counts scenario, step and expected first
    assert "table.cols tr>:nth-child(4){display:none}" in html               # 5.10.0 python ipv4: hidden
    assert "nth-child(18){" not in html and "nth-child(19){" not in html     # 6.1.0 c ipv4 and ipv6: shown
    assert len(re.findall(r"nth-child\(\d+\)\{display:none\}", html)) == 48 - 2

    # IPv6 only: the rows seen over IPv4 alone are hidden; the rest differ or fail on IPv6 columns too.
    html = browse(browser, page, "--dump-dom", fragment="#family=ipv6", timeout=300).stdout
    ipv4_only = sum(kind(i) == "ipv4-only" for i in range(ROWS))
    assert ipv4_only and f"Showing {ROWS - ipv4_only} of {ROWS} rows." in html
    assert len(re.findall(r'<tr data-c="[\d ]+" hidden="">', html)) == ipv4_only

    RUNS.mkdir(exist_ok=True)
    shot = RUNS / "compare-10000.png"
    done = browse(browser, page, f"--screenshot={shot}", "--window-size=1400,1100")
    assert done.returncode == 0 and shot.stat().st_size > 10_000
