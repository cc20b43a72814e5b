"""The plant database in a SQLite file (the default): WAL, synchronous=FULL (an event
is on disk before the collector acknowledges it), one writer at a time."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from station.plant.store import Cursor, Store

BUSY_TIMEOUT_MS = 10_000


class SqliteStore(Store):
    dialect = "sqlite"
    serial_key = "INTEGER PRIMARY KEY"
    errors = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        super().__init__(path)
        with self._errors("opening"):
            if not Path(path).parent.is_dir():
                raise sqlite3.OperationalError(f"no directory {Path(path).parent}")
            self._db = sqlite3.connect(path, isolation_level=None)
            try:
                self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error:
                self._db.close()
                raise

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        cursor = self._db.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            self._db.rollback()
            raise
        cursor.execute("COMMIT")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Cursor]:
        yield self._db.cursor()

    def _lock_migrations(self, cursor: Cursor) -> None:
        """BEGIN IMMEDIATE already holds the database's write lock."""

    def _lock_station(self, cursor: Cursor, station: str) -> None:
        """BEGIN IMMEDIATE already holds the database's write lock."""

    def close(self) -> None:
        self._db.close()
