"""The journal's event, its canonical JSON and hash, and the journal's errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS_HASH = "0" * 64
"""prev_hash of a station's first event."""

CHAIN_SEALED = "chain_sealed"
"""Kind of the event `station journal seal` writes: the chain before it was broken, a
supervisor looked into it, and the chain goes on from there (see `seal`)."""

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


class JournalError(Exception):
    """The journal cannot be opened, read or written; the message names the file."""


class JournalNotFound(JournalError):
    """There is no journal file at the given path."""


class JournalStationMismatch(JournalError):
    """The file holds the journal of another station."""


class JournalFull(JournalError):
    """The disk (or the journal's size cap) is full: the event was not written."""


class JournalStorageError(JournalError):
    """The journal's files failed under the running station: a disk error, or its WAL or
    database file removed, replaced or truncated. Events committed since may not be on
    disk; the journal refuses every append after it (restart once the cause is known)."""


class JournalBroken(JournalError):
    """The hash chain does not verify: `seq` is where it first breaks, `problems` says how."""

    def __init__(self, message: str, seq: int | None, problems: list[str]) -> None:
        super().__init__(message)
        self.seq = seq
        self.problems = problems


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
"""Made once: `json.dumps` with these options builds a new encoder at every call."""


def canonical_json(value: Any) -> str:
    """The one JSON form that is hashed and exported: sorted keys, no whitespace, UTF-8."""
    return _CANONICAL.encode(value)


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

    def to_row(self, data_text: str | None = None) -> tuple[Any, ...]:
        """The values of `INSERT_EVENT`, data as canonical JSON: `data_text` when the caller
        has it already (the writer: `append` made it), else made from `data`."""
        row = _ROW(self)
        text = canonical_json(self.data) if data_text is None else data_text
        return (*row[:_DATA_INDEX], text, *row[_DATA_INDEX + 1 :])

    def expected_hash(self) -> str:
        """The hash the other fields give; differs from `hash` when the row was edited."""
        # the fields as they are (to_dict's deep copy is not needed to hash them)
        return chain_hash({name: getattr(self, name) for name in _HASHED})


COLUMNS = tuple(f.name for f in dataclasses.fields(Event))
SELECT_EVENTS = f"SELECT {', '.join(COLUMNS)} FROM events"
INSERT_EVENT = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_DATA_INDEX = COLUMNS.index("data")
_ROW = operator.attrgetter(*COLUMNS)
_HASHED = tuple(name for name in COLUMNS if name != "hash")


def event_from_row(row: tuple[Any, ...]) -> Event:
    """The event of a row of `SELECT_EVENTS`; ValueError when its data is not JSON."""
    values = list(row)
    values[_DATA_INDEX] = json.loads(values[_DATA_INDEX])
    if not isinstance(values[_DATA_INDEX], dict):
        raise ValueError(f"data is a JSON {type(values[_DATA_INDEX]).__name__}, not an object")
    return Event(*values)
