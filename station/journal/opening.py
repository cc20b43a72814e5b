"""Opening a journal for writing: the lock, the schema, the chain check at start."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from station.journal.event import (
    GENESIS_HASH,
    SELECT_EVENTS,
    JournalBroken,
    JournalError,
    JournalStationMismatch,
    canonical_json,
)
from station.journal.store import (
    CHECKPOINT_KEY,
    SCHEMA_VERSION,
    checkpoint_of,
    read_station,
    walk_chain,
)
from station.journal.untrusted import bound_text

SCHEMA = (
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

SET_CHECKPOINT = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"


def checkpoint_params(seq: int, hash_: str) -> tuple[str, str]:
    return CHECKPOINT_KEY, canonical_json({"seq": seq, "hash": hash_})


def lock_holder(path: Path) -> str:
    """Who holds a flock on `path`, from /proc/locks: "pid N (command line)", or ""."""
    try:
        stat = path.stat()
        locks = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return ""
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in locks:
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == device:
            pid = fields[4]
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                return f"pid {pid}"
            return f"pid {pid} ({bound_text(command.decode(errors='replace').strip(), 200)})"
    return ""


def lock(path: Path) -> int:
    """Open (create, mode 0600) the database file and hold an exclusive flock on it.

    The lock is on the database file itself: deleting any file cannot release it, and the
    kernel releases it when the process ends. (SQLite's own locks are POSIX record locks,
    which Linux keeps apart from flock locks.)
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = lock_holder(path)
        raise JournalError(
            f"journal {path} is already open for writing"
            f"{f' by {holder}' if holder else ''} (one station runtime per journal: is "
            "another `station run` using this state directory?)"
        ) from None
    return fd


def prepare(
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
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('station', ?), ('schema', ?)",
            (station, SCHEMA_VERSION),
        )
        owner = read_station(path, conn)
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


def verify_from_checkpoint(
    conn: sqlite3.Connection, path: Path, station: str, head: tuple[int, str]
) -> None:
    """Check the chain from the verified checkpoint to the head, then move the checkpoint
    to the head; raise JournalBroken (with where it breaks and what to do) otherwise."""
    seq, hash_, problems = checkpoint_of(conn)
    rows = conn.execute(f"{SELECT_EVENTS} WHERE seq > ? ORDER BY seq", (seq,))
    report = walk_chain(station, rows, seq, hash_)
    problems += report.problems
    if problems:
        broken = report.broken_seq if report.broken_seq is not None else seq
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise JournalBroken(
            f"journal {path} does not verify: {problems[0]}{more}. The station does not "
            f"continue a broken journal: `station journal verify --state-dir {path.parent}` "
            "lists every problem; keep a copy of the state directory for investigation, then a "
            f"supervisor seals the break (`station journal seal --state-dir {path.parent} "
            "--reason TEXT --user NAME`) and the station starts on a new chain",
            broken,
            problems,
        )
    if head[0] != seq:
        conn.execute(SET_CHECKPOINT, checkpoint_params(*head))
