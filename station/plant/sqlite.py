"""The plant database in a SQLite file (the default): WAL, synchronous=FULL (an event
is on disk before the collector acknowledges it), one writer at a time."""

from __future__ import annotations

import contextlib
import sqlite3
import time
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
                self._to_wal()
                self._db.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error:
                self._db.close()
                raise

    def _to_wal(self) -> None:
        """Switch a new file to WAL. The switch needs the file to itself, and SQLite
        answers "locked" at once rather than wait in the busy handler when another
        connection opens the new file at the same moment (the collector and the web
        view, each in its thread): try again until the busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

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
