"""Shared test fixtures: tests that cannot lie (docs/style.md item 11).

- Every async test fails if it leaves a task running.
- `free_port` gives a port nobody listens on; servers that can bind port 0
  themselves should do that instead and report the port they got.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# the real PostgreSQL of the plant tests (psycopg is imported only when one is used)
from postgres_server import plant_db, postgres_server, postgres_url  # noqa: F401

from station.simulation import ports


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
    return ports.free_port()


@pytest.fixture
def example_users(tmp_path: Path) -> Path:
    """A private copy (mode 0600) of configs/users.example.yaml: the station refuses to
    serve a users file that other users of the machine may read, and git keeps 0644."""
    copy = tmp_path / "users.yaml"
    copy.write_bytes((Path(__file__).parent.parent / "configs" / "users.example.yaml").read_bytes())
    copy.chmod(0o600)
    return copy
