"""The leak guard itself: a task left running makes a test fail."""

from __future__ import annotations

import asyncio

import pytest

pytest_plugins = ["pytester"]


def test_leaked_task_fails_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = __import__("pathlib").Path(__file__).parent.parent
    monkeypatch.setenv("PYTHONPATH", str(tests))  # the rigs the conftest imports
    pytester.makeconftest((tests / "conftest.py").read_text())
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_leaks():
            asyncio.create_task(asyncio.sleep(30), name="forgotten")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*left 1 task(s) running: forgotten*"])


async def test_clean_test_passes() -> None:
    task = asyncio.create_task(asyncio.sleep(0), name="finishes")
    await task
