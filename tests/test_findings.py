"""The README's paragraph on what the matrix found is the one made from the kept compare.json."""

from pathlib import Path

from lab import findings

ROOT = Path(__file__).resolve().parent.parent

COMPARE = {
    "columns": ["5.10.0-46-cloud-amd64", "6.12.118+deb13-cloud-amd64"],
    "disagreements": 0,
    "rows": [
        {"scenario": "crash-reset", "item": "step 6 send", "differs": False, "reasons": {},
         "cells": {"5.10.0-46-cloud-amd64": {"outcomes": ["EPIPE"]}, "6.12.118+deb13-cloud-amd64": {"outcomes": ["EPIPE"]}}},
        {"scenario": "drop-syn", "item": "rule 2 SYN client→server", "differs": True,
         "reasons": {"Before 6.5 one SYN fewer. Linear timeouts came with commit ccce324dabfe.": ["5.10.0-46-cloud-amd64"],
                     "(no reason given)": ["6.12.118+deb13-cloud-amd64"]},
         "cells": {"5.10.0-46-cloud-amd64": {"outcomes": [2, 2]}, "6.12.118+deb13-cloud-amd64": {"outcomes": [3]}}},
    ],
}


def test_a_differing_row_names_each_outcome_with_its_columns_and_the_reason_with_its_commit():
    text = findings.markdown(COMPARE)
    assert "ran 2 steps and packet rules; 1 of them differ between columns, in 1 scenarios; cells that disagreed with their expectation: 0." in text
    line = text.splitlines()[-1]
    assert line.startswith("- `drop-syn`, rule 2 SYN client→server: 2 on 5.10.0-46-cloud-amd64; 3 on 6.12")
    assert "Before 6.5 one SYN fewer (commit ccce324dabfe)." in line
    assert "crash-reset" not in text



def test_readme_matrix_paragraph_is_the_one_made_from_the_kept_compare_json():
    readme = (ROOT / "README.md").read_text()
    assert findings.readme_with_findings(readme) == readme, "run `make readme` (or `make findings` after a matrix)"
