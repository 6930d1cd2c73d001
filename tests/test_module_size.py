"""No Python module in lab/ over 300 lines: past that a module is doing more than one job; split it."""

from pathlib import Path

LAB = Path(__file__).resolve().parent.parent / "lab"
MAX_LINES = 300


def test_every_module_in_lab_is_at_most_300_lines():
    modules = sorted(LAB.rglob("*.py"))
    assert len(modules) > 10, f"found only {len(modules)} modules under {LAB}"
    sizes = {str(p.relative_to(LAB.parent)): len(p.read_text().splitlines()) for p in modules}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}
