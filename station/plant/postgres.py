"""The plant database on PostgreSQL (psycopg 3), for a plant: `postgresql://...` (any
libpq URL: host, port, user, password, dbname, sslmode...). One connection in autocommit
mode; each batch is one explicit transaction that first takes an advisory lock per
station of the batch (in name order) and locks their head rows (`FOR UPDATE`), so two
collectors on one database store a station's events one batch after the other, each
event once; migrations run under an advisory lock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict

from station.plant.store import Cursor, Store

CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK = 0x5354_4E50  # any constant: the advisory lock of schema migrations
STATION_LOCK = 0x5354_4E51
"""The first key of a station's advisory lock (the second: the hash of its name)."""


def shown_name(url: str) -> str:
    """The database as shown in messages: user@host:port/dbname, never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(unparsable URL)"
    host = parts.get("host") or "localhost"
    user, port, name = parts.get("user", ""), parts.get("port", 5432), parts.get("dbname", "")
    return f"postgresql://{user}@{host}:{port}/{name}"


class PostgresStore(Store):
    dialect = "postgresql"
    serial_key = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    lock_rows = " FOR UPDATE"
    errors = (psycopg.Error,)

    def __init__(self, url: str) -> None:
        super().__init__(shown_name(url))
        with self._errors("connecting"):
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._db.transaction(), self._db.cursor() as cursor:
            yield cursor

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Cursor]:
        with self._db.cursor() as cursor:
            yield cursor

    def _lock_migrations(self, cursor: Cursor) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def _lock_station(self, cursor: Cursor, station: str) -> None:
        # FOR UPDATE locks a head row that exists; a station's first events have none yet,
        # so another collector could store the same events and save a head that did not
        # see them: a transaction-scoped advisory lock on the station's name orders them
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (STATION_LOCK, station))

    def close(self) -> None:
        self._db.close()
