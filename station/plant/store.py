"""The plant database behind one small interface (`Store`), on SQLite or PostgreSQL.

`open_store(url)`: a `postgresql://...` (or `postgres://...`) URL opens PostgreSQL
(`station.plant.postgres`, psycopg 3); anything else is a SQLite file path, optionally
written `sqlite:PATH` (`station.plant.sqlite`, WAL). Opening applies the schema's missing
migrations (`station.plant.migrations`). Every method is synchronous and blocking: the
collector calls them from one thread of its own, never on its event loop. Database errors
come out as `StoreError` (one line, naming the database).

`ingest(batch)` stores a batch of checked events in one transaction:
- idempotent by (station, seq): an event already stored with the same hash is a
  duplicate and changes nothing; one with another hash is not stored, and is the plant
  alarm `conflict`;
- the chain is checked as it is stored (`station.plant.chain`): an event that does not
  link is stored with status `broken` and raises the plant alarm `chain`; later events
  are stored and flagged `after_break`; an event ahead of a missing seq is stored as `gap`
  (the alarm `gap` once per hole) and checked when the missing ones arrive;
- each station's head (`Head`: the highest contiguous seq stored and its hash, which the
  collector acknowledges) moves in the same transaction; new stations appear with their
  first event. Plant alarms are stored in the same transaction (table `plant_alarms`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from station.journal import GENESIS_HASH, Event, bound_text
from station.journal.event import COLUMNS, event_from_row
from station.plant import report_rows
from station.plant.incoming import Incoming
from station.plant.migrations import CREATE_MIGRATIONS, MIGRATIONS

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:"
REPORT_CHUNK = 5000
ALARM_TEXT = 512
"""Characters of a plant alarm's text at most (it may quote what a message held)."""


class StoreError(Exception):
    """The database cannot be opened, read or written; the message names it."""


class Cursor(Protocol):
    """What both drivers' cursors offer (DB-API 2)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: Any, params: Sequence[Sequence[Any]], /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...


@dataclass
class Head:
    """A station as the plant knows it."""

    station: str
    line: str
    head_seq: int = 0
    """The highest contiguous seq stored (from 1): what the plant acknowledges."""
    head_hash: str = GENESIS_HASH
    max_seq: int = 0
    """The highest seq stored (above head_seq when events are missing before it)."""
    broken_seq: int | None = None
    """The first seq whose link did not verify."""

    @property
    def chain(self) -> str:
        """verified, `broken at seq N`, or `seq N missing` (a hole, waiting for it)."""
        if self.broken_seq is not None:
            return f"broken at seq {self.broken_seq}"
        if self.max_seq > self.head_seq:
            return f"seq {self.head_seq + 1} missing"
        return "verified"


@dataclass(frozen=True)
class PlantAlarm:
    kind: str
    """chain, gap, conflict, refused, unknown_topic, store."""
    text: str
    station: str | None = None
    seq: int | None = None
    wall: str = ""


@dataclass(frozen=True)
class StoredEvent:
    event: Event
    line: str
    status: str
    problem: str | None


@dataclass
class Ingested:
    """What a batch did, once committed."""

    stored: int = 0
    duplicates: int = 0
    alarms: list[PlantAlarm] = field(default_factory=list)
    heads: dict[str, Head] = field(default_factory=dict)
    """Every station of the batch, after it."""


def now_wall() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EVENT_COLUMNS = (*COLUMNS, "line", "status", "problem")
_SELECT = f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events"
_INSERT = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))}) ON CONFLICT (station, seq) DO NOTHING"
)
_HEAD_COLUMNS = "station, line, head_seq, head_hash, max_seq, broken_seq"
_SAVE_HEAD = (
    f"INSERT INTO stations ({_HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (station) DO UPDATE SET line = excluded.line, head_seq = excluded.head_seq, "
    "head_hash = excluded.head_hash, max_seq = excluded.max_seq, "
    "broken_seq = excluded.broken_seq"
)


def _stored(row: Sequence[Any]) -> StoredEvent:
    width = len(COLUMNS)
    line, status, problem = row[width:]
    return StoredEvent(event_from_row(tuple(row[:width])), line, status, problem)


class Store(ABC):
    """The plant database. Use from one thread at a time; `close()` when done."""

    dialect: str
    serial_key: str
    """The `{id}` of migrations: this dialect's auto-numbered primary key."""
    lock_rows = ""
    """Appended to the head's SELECT inside a batch (PostgreSQL: FOR UPDATE)."""
    errors: tuple[type[Exception], ...]

    def __init__(self, name: str) -> None:
        self.name = name
        """The database as shown in messages (no password)."""

    # --- the dialect -----------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor inside one write transaction, committed at exit (rolled back on error)."""

    @abstractmethod
    def _reading(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor for reads."""

    @abstractmethod
    def _lock_migrations(self, cursor: Cursor) -> None: ...

    @abstractmethod
    def _lock_station(self, cursor: Cursor, station: str) -> None:
        """Hold `station` for the rest of the batch's transaction (PostgreSQL: two
        collectors on one database take its events one batch after the other)."""

    @abstractmethod
    def close(self) -> None: ...

    def _sql(self, text: str) -> str:
        """`text` with the driver's placeholders (written with `?`)."""
        return text

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except self.errors as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise StoreError(f"plant database {self.name}: {doing}: {detail}") from exc

    # --- schema ------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the missing migrations; the schema version after."""
        with self._errors("migrating the schema"), self._transaction() as cursor:
            self._lock_migrations(cursor)
            cursor.execute(CREATE_MIGRATIONS)
            cursor.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            version = int(cursor.fetchone()[0])
            for number, (name, statements) in enumerate(MIGRATIONS, start=1):
                if number <= version:
                    continue
                for statement in statements:
                    if isinstance(statement, str):
                        cursor.execute(statement.replace("{id}", self.serial_key))
                    else:
                        statement(cursor, self._sql)
                cursor.execute(
                    self._sql("INSERT INTO schema_migrations VALUES (?, ?, ?)"),
                    (number, name, now_wall()),
                )
            return len(MIGRATIONS)

    # --- storing -----------------------------------------------------------------------

    def ingest(self, batch: Sequence[Incoming], refusals: Sequence[PlantAlarm] = ()) -> Ingested:
        """Store a batch of events and the refusals seen beside them: one transaction
        (`station.plant.batch`)."""
        from station.plant.batch import Batch

        with self._errors("storing events"), self._transaction() as cursor:
            return Batch(self, cursor).store(batch, refusals)

    # --- reading -----------------------------------------------------------------------

    def heads(self) -> list[Head]:
        with self._errors("reading stations"), self._reading() as cursor:
            cursor.execute(f"SELECT {_HEAD_COLUMNS} FROM stations ORDER BY line, station")
            return [Head(*row) for row in cursor.fetchall()]

    def events(self, station: str, after_seq: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Stored events of `station` after `after_seq`, by seq, at most `limit`."""
        with self._errors("reading events"), self._reading() as cursor:
            cursor.execute(
                self._sql(f"{_SELECT} WHERE station = ? AND seq > ? ORDER BY seq LIMIT ?"),
                (station, after_seq, limit),
            )
            return [_stored(row) for row in cursor.fetchall()]

    def events_of_vin(self, vin: str) -> list[StoredEvent]:
        """Every stored event naming `vin`, by station then seq."""
        with self._errors("reading a vehicle's events"), self._reading() as cursor:
            cursor.execute(self._sql(f"{_SELECT} WHERE vin = ? ORDER BY station, seq"), (vin,))
            return [_stored(row) for row in cursor.fetchall()]

    def vins(self) -> list[str]:
        with self._errors("reading VINs"), self._reading() as cursor:
            cursor.execute("SELECT DISTINCT vin FROM events WHERE vin IS NOT NULL")
            return [row[0] for row in cursor.fetchall()]

    def report_rows(self, since: float, until: float) -> Iterator[report_rows.ReportRow]:
        """The report's rows (`station.plant.report_rows`) whose time is in [since,
        until), seconds since the epoch, by station then seq, fetched in chunks (read
        from the index alone: it holds every column)."""
        sql = self._sql(
            f"SELECT {', '.join(report_rows.COLUMNS)} FROM report_rows "
            "WHERE t >= ? AND t < ? ORDER BY station, seq"
        )
        with self._errors("reading the report's events"), self._reading() as cursor:
            cursor.execute(sql, (since, until))
            while rows := cursor.fetchmany(REPORT_CHUNK):
                yield from rows

    def alarms(self) -> list[PlantAlarm]:
        with self._errors("reading plant alarms"), self._reading() as cursor:
            cursor.execute("SELECT kind, text, station, seq, wall FROM plant_alarms ORDER BY id")
            return [PlantAlarm(*row) for row in cursor.fetchall()]


DEFAULT_FILE = "plant.sqlite3"


def default_db() -> str:
    """`--db`'s default: plant.sqlite3 in $STATE_DIRECTORY (as systemd sets it, the first
    of its paths) or else in the working directory."""
    directory = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return str(Path(directory or ".") / DEFAULT_FILE)


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="the plant database: a SQLite file path (default: plant.sqlite3 in "
        "$STATE_DIRECTORY, else here) or postgresql://USER@HOST:PORT/DBNAME",
    )


def open_store(url: str) -> Store:
    """The store at `url`, migrated. ValueError for a URL that names no database we
    know; StoreError when it cannot be opened."""
    if url.startswith(POSTGRES_SCHEMES):
        from station.plant.postgres import PostgresStore

        store: Store = PostgresStore(url)
    else:
        from station.plant.sqlite import SqliteStore

        path = url.removeprefix(SQLITE_SCHEME)
        if "://" in path or not path:
            raise ValueError(
                "--db must be a SQLite file path or postgresql://... "
                f"(got {bound_text(url, 200)!r})"
            )
        store = SqliteStore(path)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
