"""The station's journal: durable, append-only, hash-chained events (ARCHITECTURE.md section 6).

Design
- One SQLite file per station (`<state-dir>/journal.sqlite3`, see `station.state_dir`), in
  WAL mode with synchronous=FULL: a row is on disk (the WAL fsynced) once its transaction
  has committed, and survives kill -9 and power loss (FAULTS.md row 24).
- The file is bound to its station (table `meta`). Opening it for another station is
  refused: a state directory copied from another station must not be continued.
- Append-only: triggers refuse UPDATE and DELETE on `events`.
- Every event carries the station's sequence number (1, 2, 3 ... no gaps; the plant
  de-duplicates by (station, seq), FAULTS.md row 21) and is chained to the one before:
  `hash = sha256(canonical JSON of every field of the event except hash)`, prev_hash
  included; the first event's prev_hash is 64 zeros. Canonical JSON: keys sorted, no
  whitespace, UTF-8 (not ASCII-escaped), NaN and infinities refused. So anyone holding
  the exported events (`Event.to_json`) can recompute the chain.
- Journal first: `append()` returns only once the row is committed; the runtime awaits it
  before writing the output the event causes. Writes run in one dedicated writer thread
  with its own connection, so an fsync never stalls the event loop. Appends are committed
  in the order they were called; appends that queue up while a commit is in flight go
  into the next transaction together (group commit: one fsync for all, each caller still
  released only after that commit). A caller cancelled while waiting does not withdraw
  its event: once called, an append is committed.
- Time (FAULTS.md row 27): `mono_ns` (time.monotonic_ns when append was called) for
  durations, comparable only between events of the same `boot_id`; `wall` (ISO 8601 UTC)
  is a timestamp only.
- Disk full (SQLITE_FULL) raises `JournalFull`; the event is not written, the journal is
  left as it was and the next append tries again. The runtime stops accepting vehicles
  rather than drop events (FAULTS.md row 23); `free_bytes()` lets it alarm early.
- One writer per file: an exclusive lock (`journal.sqlite3.lock`) refuses a second
  `Journal.open` of the same file, from this or another process. Readers (`JournalReader`,
  used by `station journal show/verify`) need no lock and see every committed event
  while the runtime writes.

Reads (`events`, `last`) are synchronous and short (indexed); `verify` reads the whole
file, so the runtime calls it at start, before it serves.

Boundary: this module stores and checks events; what they mean (vehicle records,
recovery) belongs to the runtime, and forwarding them to the plant to the uplink, which
reads them with `events(after_seq=...)`.

What the chain cannot show: the removal of the newest events (no later event points at
them) and a file rewritten as a whole with recomputed hashes. The plant's copy of the
events is the witness for those.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import structlog

log = structlog.get_logger(__name__)

GENESIS_HASH = "0" * 64
"""prev_hash of a station's first event."""

SCHEMA_VERSION = "1"

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")

_MAX_BATCH = 256
"""Most events committed in one transaction (bounds the time a batch holds the writer)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        station TEXT NOT NULL,
        kind TEXT NOT NULL,
        vin TEXT,
        step TEXT,
        result TEXT,
        operator TEXT,
        config_hash TEXT NOT NULL,
        mono_ns INTEGER NOT NULL,
        boot_id TEXT NOT NULL,
        wall TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    ) STRICT""",
    "CREATE INDEX IF NOT EXISTS events_by_vin ON events (vin, seq) WHERE vin IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, seq)",
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'journal events are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'journal events are append-only: DELETE refused'); END""",
)


class JournalError(Exception):
    """The journal cannot be opened, read or written; the message names the file."""


class JournalNotFound(JournalError):
    """There is no journal file at the given path."""


class JournalStationMismatch(JournalError):
    """The file holds the journal of another station."""


class JournalFull(JournalError):
    """The disk (or the journal's size cap) is full: the event was not written."""


def canonical_json(value: Any) -> str:
    """The one JSON form that is hashed and exported: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def chain_hash(fields: Mapping[str, Any]) -> str:
    """An event's hash: sha256 of the canonical JSON of its other fields (prev_hash included)."""
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def read_boot_id() -> str:
    """This boot's id (Linux), or "" where the kernel does not provide one."""
    try:
        return BOOT_ID_PATH.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""


@dataclass(frozen=True)
class Event:
    """One committed journal event (field order is the column order of `events`)."""

    seq: int
    station: str
    kind: str
    vin: str | None
    step: str | None
    result: str | None
    operator: str | None
    config_hash: str
    mono_ns: int
    boot_id: str
    wall: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Every field, hash included, as canonical JSON."""
        return canonical_json(self.to_dict())

    def expected_hash(self) -> str:
        """The hash the other fields give; differs from `hash` when the row was edited."""
        fields = self.to_dict()
        del fields["hash"]
        return chain_hash(fields)


_COLUMNS = tuple(f.name for f in dataclasses.fields(Event))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM events"
_INSERT = f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_DATA_INDEX = _COLUMNS.index("data")


def _event_from_row(row: tuple[Any, ...]) -> Event:
    values = list(row)
    values[_DATA_INDEX] = json.loads(values[_DATA_INDEX])
    return Event(*values)


def _row_from_event(event: Event) -> tuple[Any, ...]:
    return tuple(
        canonical_json(event.data) if name == "data" else getattr(event, name) for name in _COLUMNS
    )


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of `verify()`: each problem names the seq and what is wrong."""

    count: int
    last_seq: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_text(kind: str, name: str, value: object, *, required: bool) -> None:
    """A text field of an event: a str that UTF-8 can encode, or None where not required."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        allowed = "a str" if required else "a str or None"
        raise TypeError(f"journal event {kind!r}: {name} must be {allowed} (got {value!r})")
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(f"journal event {kind!r}: {name} is not valid text: {exc}") from exc


class _EventStore:
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

    def events(
        self,
        *,
        vin: str | None = None,
        after_seq: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events with seq > after_seq, oldest first; of one vehicle and of some kinds if asked."""
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
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading() as conn:
            return [_event_from_row(row) for row in conn.execute(sql, params)]

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
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT 1"
        with self._reading() as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else _event_from_row(row)

    def verify(self, *, integrity: bool = True) -> VerifyReport:
        """Check the file (PRAGMA integrity_check, unless integrity=False) and the chain.

        Problems found: gap in seq, hash mismatch (an edited row), broken chain (a row
        removed, inserted or re-hashed), an event of another station, unreadable data.
        A database error while reading is reported as a problem, not raised.
        """
        problems: list[str] = []
        count = 0
        expected_seq, prev_seq, prev_hash = 1, 0, GENESIS_HASH
        with self._read_lock:
            try:
                if integrity:
                    results = [r[0] for r in self._read.execute("PRAGMA integrity_check")]
                    if results != ["ok"]:
                        problems.extend(f"integrity: {result}" for result in results)
                for row in self._read.execute(f"{_SELECT} ORDER BY seq"):
                    count += 1
                    problems.extend(self._row_problems(row, expected_seq, prev_seq, prev_hash))
                    prev_seq, prev_hash = row[0], row[-1]
                    expected_seq = prev_seq + 1
            except sqlite3.DatabaseError as exc:
                problems.append(f"after seq {prev_seq}: database error: {exc}")
        return VerifyReport(count=count, last_seq=prev_seq, problems=problems)

    def _row_problems(
        self, row: tuple[Any, ...], expected_seq: int, prev_seq: int, prev_hash: str
    ) -> list[str]:
        seq, station = row[0], row[1]
        found: list[str] = []
        if seq != expected_seq:
            found.append(f"seq {seq}: gap in seq: expected seq {expected_seq}")
        if station != self.station:
            found.append(f"seq {seq}: other station: event of {station!r} in {self.station!r}")
        try:
            event = _event_from_row(row)
        except ValueError as exc:
            return [*found, f"seq {seq}: data is not valid JSON: {exc}"]
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
        return found


def _read_station(path: Path, conn: sqlite3.Connection) -> str:
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


class JournalReader(_EventStore):
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
            station = _read_station(path, conn)
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


@dataclass(frozen=True)
class _Append:
    """An event as called (every field but seq, station, boot_id and the hashes)."""

    fields: dict[str, Any]
    future: concurrent.futures.Future[Event]


@dataclass(frozen=True)
class _Stop:
    done: concurrent.futures.Future[None]


class Journal(_EventStore):
    """The station's journal, open for appending (one per file; see the module docstring).

    Close with `await journal.close()` (or `async with`): it waits until every append
    already called is committed, stops the writer thread and closes the file. The writer
    thread is a daemon: a process that exits without closing loses no committed event
    (that is the kill -9 case), only appends nobody was told were written.
    """

    config_hash: str
    """Hash of the running config, journaled with every event; set by the runtime at
    start and on each config swap ("" until then)."""

    def __init__(
        self,
        path: Path,
        station: str,
        read: sqlite3.Connection,
        write: sqlite3.Connection,
        lock_file: IO[bytes],
        head: tuple[int, str],
    ) -> None:
        super().__init__(path, station, read)
        self.config_hash = ""
        self.boot_id = read_boot_id()
        self._write = write
        self._lock_file = lock_file
        self._head_seq, self._head_hash = head
        self._queue: queue.SimpleQueue[_Append | _Stop] = queue.SimpleQueue()
        self._submit_lock = threading.Lock()
        self._refusal: str | None = None
        self._writer = threading.Thread(
            target=self._run_writer, name=f"journal-writer[{station}]", daemon=True
        )
        self._writer.start()

    @classmethod
    def open(cls, path: Path, station: str, *, max_bytes: int | None = None) -> Journal:
        """Open or create the journal of `station` at `path` and start its writer thread.

        `max_bytes` caps the database file (PRAGMA max_page_count), so that the journal
        cannot fill a disk it shares with the system; reaching the cap is handled exactly
        as a full disk (`JournalFull`).
        """
        if not isinstance(station, str) or not station:
            raise ValueError(f"journal {path}: station must be a non-empty str (got {station!r})")
        if not path.parent.is_dir():
            raise JournalError(f"journal {path}: directory {path.parent} does not exist")
        with contextlib.ExitStack() as cleanup:
            lock_file = cleanup.enter_context(path.with_name(f"{path.name}.lock").open("ab"))
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalError(
                    f"journal {path} is already open for writing (one station runtime per "
                    "journal: is another `station run` using this state directory?)"
                ) from None
            write = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            cleanup.callback(write.close)
            try:
                head = _prepare(write, path, station, max_bytes)
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"{path}: not a station journal: {exc}") from exc
            read = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            cleanup.callback(read.close)
            read.execute("PRAGMA query_only = ON")
            read.execute("PRAGMA busy_timeout = 5000")
            cleanup.pop_all()
        journal = cls(path, station, read, write, lock_file, head)
        journal.max_bytes = max_bytes
        return journal

    async def append(
        self,
        kind: str,
        *,
        vin: str | None = None,
        step: str | None = None,
        result: str | None = None,
        operator: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        """Journal one event; returns it once committed (raises JournalFull when full).

        `data` is stored as JSON: what comes back is what JSON keeps (tuples become
        lists), and the returned event holds it in that form.
        """
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"journal event: kind must be a non-empty str (got {kind!r})")
        config_hash = self.config_hash
        _check_text(kind, "kind", kind, required=True)
        _check_text(kind, "config_hash", config_hash, required=True)
        texts = {"vin": vin, "step": step, "result": result, "operator": operator}
        for name, value in texts.items():
            _check_text(kind, name, value, required=False)
        if data is not None and not isinstance(data, Mapping):
            raise TypeError(f"journal event {kind!r}: data must be a mapping (got {data!r})")
        try:
            data_text = canonical_json(dict(data or {}))
            data_text.encode()
        except TypeError as exc:
            raise TypeError(f"journal event {kind!r}: data is not JSON: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"journal event {kind!r}: data is not JSON: {exc}") from exc
        future: concurrent.futures.Future[Event] = concurrent.futures.Future()
        with self._submit_lock:
            if self._refusal is not None:
                raise JournalError(f"journal {self.path}: event {kind!r} refused: {self._refusal}")
            fields = {
                "kind": kind,
                **texts,
                "config_hash": config_hash,
                "mono_ns": time.monotonic_ns(),
                "wall": datetime.now(UTC).isoformat(timespec="microseconds"),
                "data": json.loads(data_text),
            }
            self._queue.put(_Append(fields, future))
        return await asyncio.shield(asyncio.wrap_future(future))

    max_bytes: int | None = None
    """The cap given to `open`, if any."""

    def free_bytes(self) -> int:
        """Bytes the journal may still grow by: free space for an unprivileged writer on
        its filesystem, or what is left under `max_bytes` when that is smaller."""
        stat = os.statvfs(self.path.parent)
        free = stat.f_bavail * stat.f_frsize
        if self.max_bytes is not None:
            with self._reading() as conn:
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                size = conn.execute("PRAGMA page_size").fetchone()[0]
            free = min(free, max(0, self.max_bytes - pages * size))
        return free

    async def close(self) -> None:
        """Commit what was appended, stop the writer thread, close the file. Idempotent."""
        with self._submit_lock:
            closing = self._refusal is None
            if closing:
                self._refusal = "the journal is closed"
                stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
                self._queue.put(_Stop(stopped))
        try:
            if closing:
                await asyncio.wrap_future(stopped)
        finally:
            self._writer.join()
            with self._read_lock:
                self._read.close()
            self._lock_file.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- writer thread -------------------------------------------------------------

    def _run_writer(self) -> None:
        batch: list[_Append] = []
        stop: _Stop | None = None
        try:
            while stop is None:
                batch = []
                item = self._queue.get()
                while isinstance(item, _Append):
                    batch.append(item)
                    if len(batch) == _MAX_BATCH:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if isinstance(item, _Stop):
                    stop = item
                if batch:
                    self._commit(batch)
        except BaseException as exc:
            self._fail_writer(exc, batch)
            raise
        finally:
            self._write.close()
        stop.done.set_result(None)

    def _commit(self, batch: list[_Append]) -> None:
        seq, prev_hash = self._head_seq, self._head_hash
        events = []
        for item in batch:
            seq += 1
            event = self._seal(item.fields, seq, prev_hash)
            events.append(event)
            prev_hash = event.hash
        try:
            self._write.execute("BEGIN IMMEDIATE")
            self._write.executemany(_INSERT, [_row_from_event(e) for e in events])
            self._write.execute("COMMIT")
        except sqlite3.Error as exc:
            for item in batch:
                item.future.set_exception(self._write_error(item.fields["kind"], exc))
            if self._write.in_transaction:
                self._write.execute("ROLLBACK")
            return
        self._head_seq, self._head_hash = seq, prev_hash
        for item, event in zip(batch, events, strict=True):
            item.future.set_result(event)

    def _seal(self, called: dict[str, Any], seq: int, prev_hash: str) -> Event:
        fields = {
            **called,
            "seq": seq,
            "station": self.station,
            "boot_id": self.boot_id,
            "prev_hash": prev_hash,
        }
        return Event(**fields, hash=chain_hash(fields))

    def _write_error(self, kind: str, exc: sqlite3.Error) -> JournalError:
        error: JournalError
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL:
            error = JournalFull(
                f"journal {self.path} is full ({exc}; {self.free_bytes()} bytes free on its "
                f"filesystem): event {kind!r} was not written. Free space, then append again; "
                "accept no vehicle until then"
            )
        else:
            error = JournalError(f"journal {self.path}: event {kind!r} not written: {exc}")
        error.__cause__ = exc
        return error

    def _fail_writer(self, exc: BaseException, batch: list[_Append]) -> None:
        """The writer thread died: fail every append not yet answered, refuse new ones."""
        log.error("journal writer stopped", path=str(self.path), error=repr(exc))
        with self._submit_lock:
            self._refusal = f"the writer thread stopped: {exc!r}"
            unanswered: list[_Append | _Stop] = [i for i in batch if not i.future.done()]
            while True:
                try:
                    unanswered.append(self._queue.get_nowait())
                except queue.Empty:
                    break
        for item in unanswered:
            error = JournalError(f"journal {self.path}: {self._refusal}")
            error.__cause__ = exc
            (item.future if isinstance(item, _Append) else item.done).set_exception(error)


def _prepare(
    conn: sqlite3.Connection, path: Path, station: str, max_bytes: int | None
) -> tuple[int, str]:
    """Set up the writer's connection and schema; bind the file to `station`.

    Returns the head of the chain (last seq and hash). Raises JournalStationMismatch for
    another station's file.
    """
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise JournalError(f"journal {path}: cannot use WAL mode (journal_mode is {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 5000")
    if max_bytes is not None:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('station', ?), ('schema', ?)",
            (station, SCHEMA_VERSION),
        )
        owner = _read_station(path, conn)
        head = conn.execute(
            "SELECT seq, hash, station FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for found in (owner, None if head is None else head[2]):
        if found is not None and found != station:
            raise JournalStationMismatch(
                f"journal {path} belongs to station {found!r}, not {station!r}: "
                "a journal copied from another station is not continued"
            )
    return (0, GENESIS_HASH) if head is None else (head[0], head[1])
