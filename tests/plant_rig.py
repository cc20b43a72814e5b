"""Helpers of the plant tests: journal events chained by the journal's own hash rule,
as a station would publish them; the collector running in the test's loop (its broker:
`plant_broker` of mqtt_fixtures)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from mqtt_broker import Broker

from station.journal import GENESIS_HASH, Event, chain_hash
from station.plant.collector import Collector
from station.plant.incoming import Incoming
from station.uplink.config import parse_broker_url

LINE = "line-1"
WAIT_S = 30.0


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


@contextlib.asynccontextmanager
async def collecting(broker: Broker, db: str) -> AsyncIterator[Collector]:
    collector = Collector(parse_broker_url(broker.url), db)
    task = asyncio.create_task(collector.run(), name="plant-collector")
    try:
        async with asyncio.timeout(WAIT_S):
            await collector.connected.wait()
        yield collector
    finally:
        assert not task.done(), "the collector ended by itself"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
