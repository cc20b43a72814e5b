"""The journal open for appending: the writer thread and its storage checks, seal, anchor
(`opening` does the lock and the chain check at start)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog

from station.journal.anchor import Anchor, write_anchor
from station.journal.event import (
    CHAIN_SEALED,
    INSERT_EVENT,
    Event,
    JournalError,
    JournalFull,
    JournalStorageError,
    chain_hash,
    read_boot_id,
)
from station.journal.opening import (
    SET_CHECKPOINT,
    checkpoint_params,
    lock,
    prepare,
    verify_from_checkpoint,
)
from station.journal.store import (
    EventStore,
    JournalReader,
)
from station.journal.untrusted import bound_json_text, bound_text
from station.state_dir import anchors_path

log = structlog.get_logger("station.journal")

_MAX_BATCH = 256
"""Most events committed in one transaction (bounds the time a batch holds the writer)."""

CHECKPOINT_EVERY = 1000
"""The writer moves the verified checkpoint forward each time the head passes a multiple
of this many events, so a start after a crash checks at most about this many events."""

_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
"""The first four bytes of a SQLite WAL file (either byte order of its checksums)."""


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


@dataclass(frozen=True)
class _Append:
    """An event as called (every field but seq, station, boot_id and the hashes), and the
    caller's future on the caller's loop, answered from the writer thread (`_answer`)."""

    fields: dict[str, Any]
    data_text: str
    """Its data as canonical JSON (what is hashed and stored), made once by `append`."""
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Event]


def _settle(answers: list[tuple[asyncio.Future[Event], Event | BaseException]]) -> None:
    """On the callers' loop: answer each future (one the caller cancelled stays so; its
    event is committed all the same)."""
    for future, outcome in answers:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _answer(batch: list[_Append], outcomes: Sequence[Event | BaseException]) -> None:
    """Hand each append of `batch` its outcome: one wake-up of each callers' loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Event], Any]]] = {}
    for item, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(item.loop, []).append((item.future, outcome))
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, answers)


@dataclass(frozen=True)
class _Stop:
    done: concurrent.futures.Future[None]


class Journal(EventStore):
    """The station's journal, open for appending (one per file; see the package docstring).

    Close with `await journal.close()` (or `async with`): it waits until every append
    already called is committed, stops the writer thread and closes the file. The writer
    thread is a daemon: a process that exits without closing loses no committed event
    (that is the kill -9 case), only appends nobody was told were written.
    """

    config_hash: str
    """Hash of the running config, journaled with every event; set by the runtime at
    start and on each config swap ("" until then)."""

    max_bytes: int | None = None
    """The cap given to `open`, if any."""

    def __init__(
        self,
        path: Path,
        station: str,
        read: sqlite3.Connection,
        write: sqlite3.Connection,
        lock_fd: int,
        head: tuple[int, str],
    ) -> None:
        super().__init__(path, station, read)
        self.config_hash = ""
        self.boot_id = read_boot_id()
        self._write = write
        self._lock_fd = lock_fd
        self._head = head
        self._db, self._wal = os.fspath(path), f"{path}-wal"  # str: stat() at every commit
        self._wal_fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
        locked, wal = os.fstat(lock_fd), os.fstat(self._wal_fd)
        self._db_id = (locked.st_dev, locked.st_ino)
        self._wal_inode, self._wal_size = wal.st_ino, wal.st_size
        self._queue: queue.SimpleQueue[_Append | _Stop] = queue.SimpleQueue()
        self._submit_lock = threading.Lock()
        self._refusal: tuple[type[JournalError], str] | None = None
        """Why appends are refused (and as what), once they are."""
        self._writer = threading.Thread(
            target=self._run_writer, name=f"journal-writer[{station}]", daemon=True
        )
        self._writer.start()

    @classmethod
    def open(cls, path: Path, station: str, *, max_bytes: int | None = None) -> Journal:
        """Open or create the journal of `station` at `path` and start its writer thread.

        The file is locked (flock on the database file) for as long as it is open: a
        second `open`, from any process, is refused naming the holder. The chain is
        checked from the last verified checkpoint to the head (a start checks only what
        was written since, so it stays fast on a year of events); a journal that does not
        verify raises JournalBroken, naming the seq where it breaks and what to do.

        `max_bytes` caps the database file (PRAGMA max_page_count), so that the journal
        cannot fill a disk it shares with the system; reaching the cap is handled exactly
        as a full disk (`JournalFull`).
        """
        return cls._open(path, station, max_bytes=max_bytes, verify=True)

    @classmethod
    def _open(cls, path: Path, station: str, *, max_bytes: int | None, verify: bool) -> Journal:
        if not isinstance(station, str) or not station:
            raise ValueError(f"journal {path}: station must be a non-empty str (got {station!r})")
        if not path.parent.is_dir():
            raise JournalError(f"journal {path}: directory {path.parent} does not exist")
        with contextlib.ExitStack() as cleanup:
            lock_fd = lock(path)
            cleanup.callback(os.close, lock_fd)
            write = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            cleanup.callback(write.close)
            try:
                head = prepare(write, path, station, max_bytes)
                if verify:
                    verify_from_checkpoint(write, path, station, head)
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"{path}: not a station journal: {exc}") from exc
            read = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            cleanup.callback(read.close)
            read.execute("PRAGMA query_only = ON")
            read.execute("PRAGMA busy_timeout = 5000")
            cleanup.pop_all()
        journal = cls(path, station, read, write, lock_fd, head)
        journal.max_bytes = max_bytes
        return journal

    @classmethod
    async def seal(cls, path: Path, *, reason: str, user: str) -> Event:
        """Start a new chain on a broken journal: a supervisor's explicit act, done while
        no runtime has the journal open (`station journal seal`).

        Appends one `chain_sealed` event whose data records the old head (seq, hash),
        where the chain broke, every problem found and the reason, by `user`. From then
        on `verify` reports those problems as sealed and `open` accepts the journal.
        Refuses a journal that verifies, and one whose file is damaged below the chain
        (SQLite integrity check): sealing cannot repair a file.
        """
        if not reason.strip() or not user.strip():
            raise ValueError("sealing a journal needs a reason and the supervisor's name")
        with JournalReader.open(path) as reader:
            station = reader.station
        journal = cls._open(path, station, max_bytes=None, verify=False)
        async with journal:
            report = journal.verify()
            if report.ok:
                raise JournalError(f"journal {path} verifies: nothing to seal")
            if not report.file_ok:
                raise JournalError(
                    f"journal {path}: the file itself is damaged ({report.problems[0]}): "
                    "sealing cannot repair it; keep the state directory for investigation "
                    "and start the station on a new one"
                )
            head_seq, head_hash = journal._head
            return await journal.append(
                CHAIN_SEALED,
                result="sealed",
                operator=user,
                data={
                    "reason": reason,
                    "old_head": {"seq": head_seq, "hash": head_hash},
                    "broken_seq": report.broken_seq,
                    "problems": report.problems,
                },
            )

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
        """Journal one event; returns it once committed.

        Every string is bounded first (`station.journal.untrusted.bound_text`: at most
        MAX_TEXT characters, then a marker with the original length), in `data` at any
        depth too. `data` is stored as JSON: what comes back is what JSON keeps (tuples
        become lists), and the returned event holds it in that form.

        Raises JournalFull when the disk is full (append again once there is room),
        JournalStorageError when the journal's files failed under it (every later append
        is refused too).
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
            data_text = bound_json_text(dict(data or {}))
            data_text.encode()
        except TypeError as exc:
            raise TypeError(f"journal event {kind!r}: data is not JSON: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"journal event {kind!r}: data is not JSON: {exc}") from exc
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Event] = loop.create_future()
        with self._submit_lock:
            if self._refusal is not None:
                error, reason = self._refusal
                raise error(f"journal {self.path}: event {kind!r} refused: {reason}")
            fields = {
                "kind": bound_text(kind),
                **{name: None if v is None else bound_text(v) for name, v in texts.items()},
                "config_hash": bound_text(config_hash),
                "mono_ns": time.monotonic_ns(),
                "wall": datetime.now(UTC).isoformat(timespec="microseconds"),
                "data": json.loads(data_text),
            }
            self._queue.put(_Append(fields, data_text, loop, future))
        return await future

    async def anchor(self, key_file: Path, anchors: Path | None = None) -> Anchor:
        """Record the committed head (seq, hash), signed with the key in `key_file`, in
        `anchors` (default: `anchors.jsonl` beside the journal); see
        `station.journal.anchor`. Runs in a thread (it fsyncs)."""
        head_seq, head_hash = self._head
        target = anchors or anchors_path(self.path.parent)
        return await asyncio.to_thread(
            write_anchor, target, key_file, self.station, head_seq, head_hash
        )

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
            closing = self._refusal is None or self._refusal[0] is JournalStorageError
            if closing:
                self._refusal = (JournalError, "the journal is closed")
                stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
                self._queue.put(_Stop(stopped))
        try:
            if closing:
                await asyncio.wrap_future(stopped)
        finally:
            self._writer.join()
            with self._read_lock:
                self._read.close()
            if self._lock_fd >= 0:
                os.close(self._wal_fd)
                os.close(self._lock_fd)
                self._lock_fd = -1

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
                    if self._queue.empty():  # this thread alone takes from the queue
                        break
                    item = self._queue.get_nowait()
                if isinstance(item, _Stop):
                    stop = item
                if batch:
                    self._commit(batch)
                    batch = []
        except BaseException as exc:
            self._fail_writer(exc, batch)
            raise
        finally:
            self._write.close()
        stop.done.set_result(None)

    def _commit(self, batch: list[_Append]) -> None:
        head_seq, prev_hash = self._head
        seq = head_seq
        events, rows = [], []
        for item in batch:
            seq += 1
            event = self._seal(item.fields, seq, prev_hash)
            events.append(event)
            rows.append(event.to_row(item.data_text))
            prev_hash = event.hash
        checkpoint = seq // CHECKPOINT_EVERY > head_seq // CHECKPOINT_EVERY or any(
            e.kind == CHAIN_SEALED for e in events
        )
        try:
            self._check_files(before_commit=True)
            if len(rows) == 1 and not checkpoint:
                self._write.execute(INSERT_EVENT, rows[0])  # its own transaction
            else:
                self._write.execute("BEGIN IMMEDIATE")
                self._write.executemany(INSERT_EVENT, rows)
                if checkpoint:
                    self._write.execute(SET_CHECKPOINT, checkpoint_params(seq, prev_hash))
                self._write.execute("COMMIT")
            self._head = (seq, prev_hash)
            self._check_files(before_commit=False)
        except (sqlite3.Error, JournalStorageError) as exc:
            if self._write.in_transaction:
                self._write.execute("ROLLBACK")
            _answer(batch, [self._write_error(item.fields["kind"], exc) for item in batch])
            return
        _answer(batch, events)

    def _seal(self, called: dict[str, Any], seq: int, prev_hash: str) -> Event:
        fields = {
            **called,
            "seq": seq,
            "station": self.station,
            "boot_id": self.boot_id,
            "prev_hash": prev_hash,
        }
        return Event(**fields, hash=chain_hash(fields))

    def _check_files(self, *, before_commit: bool) -> None:
        """Raise JournalStorageError when the files under the writer were changed: the
        database file removed or replaced, the WAL removed, replaced or truncated (only
        this writer writes the WAL, and it never shrinks while the writer has it open)."""
        problem = ""
        try:
            on_disk, wal = os.stat(self._db), os.stat(self._wal)
        except FileNotFoundError as exc:
            problem = f"{exc.filename} was removed"
        else:
            if (on_disk.st_dev, on_disk.st_ino) != self._db_id:
                problem = f"the database file {self.path} was replaced"
            elif wal.st_ino != self._wal_inode:
                problem = f"the WAL {self._wal} was replaced"
            elif before_commit and wal.st_size != self._wal_size:
                problem = f"the WAL {self._wal} changed size ({self._wal_size} -> {wal.st_size})"
            elif not before_commit and os.pread(self._wal_fd, 4, 0) not in _WAL_MAGIC:
                problem = f"the WAL {self._wal} has no WAL header (truncated)"
            self._wal_size = wal.st_size
        if problem:
            raise JournalStorageError(
                f"{problem} under the running station: events may not be on disk"
            )

    def _write_error(self, kind: str, exc: Exception) -> JournalError:
        error: JournalError
        if isinstance(exc, sqlite3.Error) and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL:
            error = JournalFull(
                f"journal {self.path} is full ({exc}; {self.free_bytes()} bytes free on its "
                f"filesystem): event {kind!r} was not written. Free space, then append again; "
                "accept no vehicle until then"
            )
        else:
            error = JournalStorageError(
                f"journal {self.path}: event {kind!r} may not be written: {exc}. Stop "
                "accepting vehicles; the journal refuses every append until the station "
                "restarts"
            )
            with self._submit_lock:
                if self._refusal is None:
                    self._refusal = (JournalStorageError, f"an earlier write failed: {exc}")
        error.__cause__ = exc
        return error

    def _fail_writer(self, exc: BaseException, batch: list[_Append]) -> None:
        """The writer thread died: fail every append not yet answered, refuse new ones."""
        log.error("journal writer stopped", path=str(self.path), error=repr(exc))
        reason = f"the writer thread stopped: {exc!r}"
        with self._submit_lock:
            self._refusal = (JournalError, reason)
            unanswered: list[_Append | _Stop] = list(batch)
            while True:
                try:
                    unanswered.append(self._queue.get_nowait())
                except queue.Empty:
                    break

        def failure() -> JournalError:
            error = JournalError(f"journal {self.path}: {reason}")
            error.__cause__ = exc
            return error

        appends = [item for item in unanswered if isinstance(item, _Append)]
        _answer(appends, [failure() for _ in appends])
        for item in unanswered:
            if isinstance(item, _Stop):
                item.done.set_exception(failure())
