"""Helpers of the plant tests: journal events chained by the journal's own hash rule,
as a station would publish them."""

from __future__ import annotations

import dataclasses
from typing import Any

from station.journal import GENESIS_HASH, Event, chain_hash
from station.plant.incoming import Incoming

LINE = "line-1"


def event(station: str, seq: int, prev_hash: str, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "seq": seq,
        "station": station,
        "kind": "test",
        "vin": None,
        "step": "s",
        "result": None,
        "operator": None,
        "config_hash": "c0ffee",
        "mono_ns": seq * 1000,
        "boot_id": "boot",
        "wall": f"2026-12-04T10:00:{seq % 60:02d}.000Z",
        "data": {"i": seq},
        "prev_hash": prev_hash,
        **fields,
    }
    return Event(**values, hash=chain_hash(values))


def chained(station: str, count: int, *, after: Event | None = None) -> list[Event]:
    """`count` events of `station` chained after `after` (or from seq 1)."""
    events: list[Event] = []
    previous = after
    for _ in range(count):
        seq = 1 if previous is None else previous.seq + 1
        previous = event(station, seq, GENESIS_HASH if previous is None else previous.hash)
        events.append(previous)
    return events


def forged(original: Event, **changes: Any) -> Event:
    """`original` changed without recomputing its hash."""
    return dataclasses.replace(original, **changes)


def incoming(events: list[Event], line: str = LINE) -> list[Incoming]:
    return [Incoming(line=line, event=e, replay=False) for e in events]
