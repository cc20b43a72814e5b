"""A real PostgreSQL for the plant tests (`station.bench.scratch_postgres`, from the
Debian package `postgresql`: .ci/run installs it), registered in conftest.py.

- `postgres_server` (session): a throwaway server on a free loopback port, fsync off
  (these tests are about our code, not PostgreSQL's durability), stopped and removed at
  the end of the session. Skips, saying so, only when the binaries are absent.
- `postgres_url` (per test): a database of the test's own (CREATE DATABASE), dropped
  after it.
- `plant_db` (per test, parametrized `sqlite` / `postgresql`): the URL of an empty plant
  database of either kind, so one test runs against both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.bench.scratch_postgres import NoPostgres, PostgresServer, scratch_postgres

__all__ = ["PostgresServer", "plant_db", "postgres_server", "postgres_url"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        with scratch_postgres() as server:
            yield server
    except NoPostgres as exc:
        pytest.skip(str(exc))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.new_database()
    yield postgres_server.url(name)
    postgres_server.admin(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def plant_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "plant.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return url
