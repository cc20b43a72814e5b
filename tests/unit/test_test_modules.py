"""The suite's own layout: tests/unit and tests/system share one import namespace
(pyproject's pythonpath), so two test modules with one name make the whole run refuse
to collect, although each folder alone runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent.parent


def test_no_two_test_modules_share_a_name() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
