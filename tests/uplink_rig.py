"""Helpers of the plant link tests: a journal written by `Journal` itself, an Uplink
on a test broker with its alarms and notes recorded, and the plant's side (acks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
from mqtt_broker import Broker

from station.journal import Event, Journal
from station.status import Status
from station.uplink.config import Uplink as UplinkConfig
from station.uplink.link import Uplink

STATION, LINE = "photo-studio", "line-1"
TOPIC = f"plant/{LINE}/{STATION}/journal"
WAIT_S = 20.0


def status() -> Status:
    """A status snapshot as Station.status() gives it."""
    return {
        "station": STATION,
        "operation": "photo",
        "state": "Idle",
        "mode": "production",
        "vin": None,
        "model": "",
        "held": None,
        "route": [],
        "step_index": 0,
        "step_count": 3,
        "step": "identify",
        "step_progress": 0.0,
        "prompt": None,
        "alarms": [],
        "counts": {"cycles": 0, "passed": 0, "failed": 0, "rework": 0, "held": 0},
        "blocked": False,
        "starved": False,
        "inputs": {},
        "outputs": {},
        "links": {"plc": True, "barcode": False},
        "config_hash": "c0ffee",
        "route_version": 3,
        "visit_measurements": [],
        "visit_findings": [],
        "last_measurements": {},
    }


class Recorder:
    """The runtime's side of the callbacks: active alarms, every raise, every note."""

    def __init__(self) -> None:
        self.active: dict[str, str] = {}
        self.raised: list[tuple[str, str]] = []
        self.notes: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    def alarm(self, key: str, text: str | None) -> None:
        if text is None:
            self.active.pop(key, None)
        elif self.active.get(key) != text:
            self.active[key] = text
            self.raised.append((key, text))
        self._changed.set()

    def note(self, kind: str, data: dict[str, Any]) -> None:
        self.notes.append((kind, data))
        self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        """Wait until `condition()` holds, looking again after every callback."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._changed.clear()
                # the uplink's own state (its cursor) changes without a callback: look
                # again at least every 50 ms
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)


async def append(journal: Journal, count: int) -> list[Event]:
    """`count` events, appended concurrently (group commit)."""
    return list(
        await asyncio.gather(
            *(journal.append("test", step="s", data={"i": i}) for i in range(count))
        )
    )


def make_uplink(
    broker: Broker,
    state_dir: Path,
    recorder: Recorder,
    source: Callable[[], Status] = status,
    **settings: Any,
) -> Uplink:
    settings = {"backoff_min_s": 0.05, "backoff_max_s": 0.3, "keepalive_s": 5, **settings}
    if broker.ca_file is not None:
        settings.setdefault("ca_file", str(broker.ca_file))
    config = UplinkConfig(broker=broker.url, **settings)
    return Uplink(
        config,
        state_dir / "journal.sqlite3",
        STATION,
        LINE,
        state_dir,
        source,
        recorder.alarm,
        recorder.note,
    )


async def send_ack(broker: Broker, seq: int, hash_: str) -> None:
    """What the plant collector does: a retained ack of the highest contiguous seq."""
    async with aiomqtt.Client("127.0.0.1", broker.port) as plant:
        payload = json.dumps({"seq": seq, "hash": hash_})
        await plant.publish(f"{TOPIC}/ack", payload, qos=1, retain=True)


def parsed(received: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [json.loads(payload) for _, payload in received]


def expected(event: Event, *, replay: bool) -> dict[str, Any]:
    fields = event.to_dict()
    if replay:
        fields["replay"] = True
    return fields
