"""Reading a journal file: queries, the chain check, the read-only view for tools."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from station.journal.event import (
    CHAIN_SEALED,
    GENESIS_HASH,
    SELECT_EVENTS,
    Event,
    JournalBroken,
    JournalError,
    JournalNotFound,
    event_from_row,
)

SCHEMA_VERSION = "1"

CHECKPOINT_KEY = "checkpoint"
"""Key in table `meta` of the last verified head, `{"seq": ..., "hash": ...}` (see
`Journal.open`)."""


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of a chain check: each problem names the seq and what is wrong.

    `sealed` holds the problems a `chain_sealed` event after them covers (reported, not
    failing); `broken_seq` is the seq of the first problem not sealed; `file_ok` is false
    when SQLite's integrity check failed or the file could not be read to its end (a
    journal in that state cannot be sealed).
    """

    count: int
    last_seq: int
    problems: list[str]
    sealed: list[str] = field(default_factory=list)
    broken_seq: int | None = None
    file_ok: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class CheckedEvent:
    """An event as `journal show` prints it, with what does not verify about its row (its
    own hash, its link to the row before, its station). Data that is not JSON is shown
    as {} with the problem saying so."""

    event: Event
    problems: list[str]

    @property
    def verified(self) -> bool:
        return not self.problems


def _check_row(
    station: str, row: tuple[Any, ...], expected_seq: int, prev_seq: int, prev_hash: str
) -> tuple[Event | None, list[str]]:
    """The row as an event (None when its data is not JSON) and its problems."""
    seq, row_station = row[0], row[1]
    found: list[str] = []
    if seq != expected_seq:
        found.append(f"seq {seq}: gap in seq: expected seq {expected_seq}")
    if row_station != station:
        found.append(f"seq {seq}: other station: event of {row_station!r} in {station!r}")
    try:
        event = event_from_row(row)
    except ValueError as exc:
        return None, [*found, f"seq {seq}: data is not valid JSON: {exc}"]
    expected_hash = event.expected_hash()
    if expected_hash != event.hash:
        found.append(
            f"seq {seq}: hash mismatch: stored {event.hash[:16]}, "
            f"its fields hash to {expected_hash[:16]} (row edited)"
        )
    if event.prev_hash != prev_hash:
        before = f"seq {prev_seq}" if prev_seq else "the genesis hash"
        found.append(
            f"seq {seq}: broken chain: prev_hash {event.prev_hash[:16]} "
            f"is not the hash of {before} ({prev_hash[:16]})"
        )
    return event, found


def _sealed_problems(event: Event) -> set[str]:
    """The problems a chain_sealed event recorded (nothing for any other event)."""
    recorded = event.data.get("problems") if event.kind == CHAIN_SEALED else None
    return {p for p in recorded if isinstance(p, str)} if isinstance(recorded, list) else set()


def walk_chain(
    station: str, rows: Iterable[tuple[Any, ...]], prev_seq: int, prev_hash: str
) -> VerifyReport:
    """Check `rows` (seq order) as the chain going on from (prev_seq, prev_hash).

    A problem is sealed by a later valid `chain_sealed` event that recorded it; a
    database error while reading is reported as a problem, not raised.
    """
    count, file_ok = 0, True
    unsealed: list[tuple[int, str]] = []
    sealed: list[str] = []
    try:
        for row in rows:
            count += 1
            event, found = _check_row(station, row, prev_seq + 1, prev_seq, prev_hash)
            if event is not None and not found and (recorded := _sealed_problems(event)):
                sealed.extend(text for _, text in unsealed if text in recorded)
                unsealed = [(s, text) for s, text in unsealed if text not in recorded]
            unsealed.extend((row[0], text) for text in found)
            prev_seq, prev_hash = row[0], row[-1]
    except sqlite3.DatabaseError as exc:
        unsealed.append((prev_seq + 1, f"after seq {prev_seq}: database error: {exc}"))
        file_ok = False
    return VerifyReport(
        count=count,
        last_seq=prev_seq,
        problems=[text for _, text in unsealed],
        sealed=sealed,
        broken_seq=unsealed[0][0] if unsealed else None,
        file_ok=file_ok,
    )


class EventStore:
    """Queries shared by the writer (`Journal`) and the read-only view (`JournalReader`)."""

    def __init__(self, path: Path, station: str, read: sqlite3.Connection) -> None:
        self.path = path
        self.station = station
        self._read = read
        self._read_lock = threading.Lock()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            try:
                yield self._read
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"journal {self.path}: read failed: {exc}") from exc

    def _rows(
        self,
        vin: str | None,
        after_seq: int,
        kinds: Collection[str] | None,
        limit: int | None,
    ) -> list[tuple[Any, ...]]:
        if isinstance(kinds, str):
            raise TypeError(f"kinds must be a collection of event kinds, not the str {kinds!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0 (got {limit})")
        clauses = ["seq > ?"]
        params: list[object] = [after_seq]
        if vin is not None:
            clauses.append("vin = ?")
            params.append(vin)
        if kinds is not None:
            clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        sql = f"{SELECT_EVENTS} WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()

    def _event(self, row: tuple[Any, ...]) -> Event:
        try:
            return event_from_row(row)
        except ValueError as exc:
            raise JournalBroken(
                f"journal {self.path}: seq {row[0]}: data is not valid JSON ({exc}): the "
                "journal is broken; `station journal verify` lists every problem",
                row[0],
                [f"seq {row[0]}: data is not valid JSON: {exc}"],
            ) from exc

    def events(
        self,
        *,
        vin: str | None = None,
        after_seq: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events with seq > after_seq, oldest first; of one vehicle and of some kinds if asked.

        Raises JournalBroken for a row whose data is not JSON.
        """
        return [self._event(row) for row in self._rows(vin, after_seq, kinds, limit)]

    def checked_events(
        self, *, vin: str | None = None, after_seq: int = 0, limit: int | None = None
    ) -> list[CheckedEvent]:
        """As `events`, each with the problems of its row (for `journal show`)."""
        checked = []
        for row in self._rows(vin, after_seq, None, limit):
            seq = row[0]
            prev_hash = GENESIS_HASH if seq == 1 else self.hash_of(seq - 1)
            problems = [] if prev_hash is not None else [f"seq {seq}: seq {seq - 1} is missing"]
            event, found = _check_row(self.station, row, seq, seq - 1, prev_hash or row[-2])
            if event is None:
                event = event_from_row((*row[:-3], "{}", *row[-2:]))
            checked.append(CheckedEvent(event, problems + found))
        return checked

    def hash_of(self, seq: int) -> str | None:
        """The stored hash of event `seq`, or None when there is no such event."""
        with self._reading() as conn:
            row = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def head_seq(self) -> int:
        """The highest seq in the journal (0 when empty)."""
        with self._reading() as conn:
            head: int = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        return head

    def last(self, kind: str | None = None, vin: str | None = None) -> Event | None:
        """The newest event (of that kind, of that vehicle), or None."""
        clauses = ["1"]
        params: list[str] = []
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if vin is not None:
            clauses.append("vin = ?")
            params.append(vin)
        sql = f"{SELECT_EVENTS} WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT 1"
        with self._reading() as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else self._event(row)

    def verify(self, *, integrity: bool = True) -> VerifyReport:
        """Check the file (PRAGMA integrity_check, unless integrity=False) and the whole chain.

        Problems found: gap in seq, hash mismatch (an edited row), broken chain (a row
        removed, inserted or re-hashed), an event of another station, unreadable data;
        those a `chain_sealed` event covers are in `sealed`. A database error while
        reading is reported as a problem, not raised.
        """
        rows: Iterable[tuple[Any, ...]]
        with self._read_lock:
            file_problems = []
            try:
                if integrity:
                    results = [r[0] for r in self._read.execute("PRAGMA integrity_check")]
                    if results != ["ok"]:
                        file_problems = [f"integrity: {result}" for result in results]
                checkpoint_seq, _, checkpoint_problems = checkpoint_of(self._read)
                rows = self._read.execute(f"{SELECT_EVENTS} ORDER BY seq")
            except sqlite3.DatabaseError as exc:
                file_problems.append(f"database error: {exc}")
                checkpoint_seq, checkpoint_problems, rows = 0, [], iter(())
            chain = walk_chain(self.station, rows, 0, GENESIS_HASH)
        if not file_problems and not checkpoint_problems:
            return chain
        return VerifyReport(
            count=chain.count,
            last_seq=chain.last_seq,
            problems=file_problems + checkpoint_problems + chain.problems,
            sealed=chain.sealed,
            broken_seq=chain.broken_seq or (checkpoint_seq if checkpoint_problems else None),
            file_ok=not file_problems and chain.file_ok,
        )


def checkpoint_of(conn: sqlite3.Connection) -> tuple[int, str, list[str]]:
    """The verified checkpoint (seq, hash; 0 and the genesis hash when there is none) and
    what is wrong with it: its event missing (the journal cut below it) or rewritten."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (CHECKPOINT_KEY,)).fetchone()
    if row is None:
        return 0, GENESIS_HASH, []
    try:
        value = json.loads(row[0])
        seq, hash_ = int(value["seq"]), str(value["hash"])
    except (ValueError, TypeError, KeyError) as exc:
        return 0, GENESIS_HASH, [f"checkpoint: unreadable ({exc!r}): the meta table was edited"]
    found = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
    if found is None:
        head = conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        return (
            seq,
            hash_,
            [
                f"seq {seq}: missing: the journal ends at seq {head}, before its verified "
                f"checkpoint seq {seq} (events removed, or the WAL lost)"
            ],
        )
    if found[0] != hash_:
        return (
            seq,
            hash_,
            [
                f"seq {seq}: hash {found[0][:16]} is not the {hash_[:16]} verified at the "
                "checkpoint (event rewritten)"
            ],
        )
    return seq, hash_, []


def read_station(path: Path, conn: sqlite3.Connection) -> str:
    """The station the file belongs to; raises JournalError for a file that is no journal."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'station'").fetchone()
        schema = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path}: not a station journal: {exc}") from exc
    if row is None or schema is None:
        raise JournalError(f"{path}: not a station journal: no station in table meta")
    if schema[0] != SCHEMA_VERSION:
        raise JournalError(
            f"{path}: journal schema {schema[0]!r}, this build reads {SCHEMA_VERSION!r}"
        )
    station: str = row[0]
    return station


class JournalReader(EventStore):
    """Read-only view of a journal file, for tools; the runtime may write it meanwhile.

    Use as a context manager or call `close()`.
    """

    @classmethod
    def open(cls, path: Path) -> JournalReader:
        if not path.is_file():
            raise JournalNotFound(f"no journal at {path}")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            station = read_station(path, conn)
        except BaseException:
            conn.close()
            raise
        return cls(path, station, conn)

    def close(self) -> None:
        with self._read_lock:
            self._read.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
