"""The house's size rule (docs/style.md): no module of the product is over 500 lines;
past that a module holds more than one role and is split by role."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
LIMIT = 500


def test_no_module_of_the_product_is_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("station", "hal", "simulators")
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: lines for path, lines in sizes.items() if lines > LIMIT} == {}
