"""Shared test fixtures: tests that cannot lie (docs/style.md item 11).

- Every async test fails if it leaves a task running.
- `free_port` gives a port nobody listens on; servers that can bind port 0
  themselves should do that instead and report the port they got.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("asyncio") is not None and isinstance(item, pytest.Function):
            item.fixturenames.insert(0, "no_leaked_tasks")


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()]
    if left:
        names = sorted(t.get_name() for t in left)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        pytest.fail(f"test left {len(left)} task(s) running: {', '.join(names)}")


@pytest.fixture
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
