"""The web view's side of the plant database: one connection of its own (the store's,
opened with `open_store`), used from one thread of its own (`ReaderThread`), never on
the event loop; the live board (`station.web.board.Board`) fed from it.

- `start()`: opens the store and folds, per station, its tile's window and today's
  events (`reading.window`) into the tiles, and the vehicles' events of the last
  HISTORY_S (`reading.vehicle_history`) into the vehicles (held, queued, WIP);
- then `follow()` reads each station's events past what it folded (up to the station's
  acknowledged head: what is stored contiguously) whenever the collector commits a
  batch (`notify`, the collector's `on_commit`) and at least every `POLL_S` (a database
  written by another collector), and wakes the pages (`changes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import structlog

from station.journal.untrusted import shown
from station.plant.report import HORIZON_S, wall_of
from station.plant.store import Ingested, Store, StoredEvent, StoreError, open_store
from station.uplink.stream import ReaderThread
from station.web import reading
from station.web.board import VEHICLE_KINDS, Board, today

log = structlog.get_logger("station.web")

POLL_S = 1.0
PAGE = 1000
HISTORY_S = HORIZON_S
T = TypeVar("T")


class Live:
    def __init__(self, db_url: str, board: Board, clock: Callable[[], float] = time.time) -> None:
        self.db_url = db_url
        self.board = board
        self.clock = clock
        self.version = 0
        self.changes = asyncio.Condition()
        self._thread = ReaderThread("plant-web")
        self._store: Store | None = None
        self._cursors: dict[str, int] = {}
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Open the database and fold what is stored. StoreError, ValueError."""
        try:
            self._store = await self._thread.run(open_store, self.db_url)
            now = self.clock()
            lines, history = await self._thread.run(self._initial, today(now), now - HISTORY_S)
        except BaseException:
            await self.close()
            raise
        for station, rows in lines.items():
            for row in rows:
                self.board.take_tile(row.line, row.event)
            if rows:
                self._cursors[station] = max(row.event.seq for row in rows)
        for row in history:
            if row.event.seq <= self._cursors.get(row.event.station, 0):
                self.board.take_vehicle(row.line, row.event)

    def _initial(
        self, day: str, since: float
    ) -> tuple[dict[str, list[StoredEvent]], list[StoredEvent]]:
        store = self._opened()
        windows = {
            head.station: [
                row
                for row in reading.window(store, head.station, day)
                if row.event.seq <= head.head_seq
            ]
            for head in store.heads()
        }
        return windows, reading.vehicle_history(store, VEHICLE_KINDS, wall_of(since))

    def _opened(self) -> Store:
        if self._store is None:
            self._store = open_store(self.db_url)
        return self._store

    async def read(self, function: Callable[..., T], *args: Any, **options: Any) -> T:
        """`function(store, *args, **options)` in the database thread."""
        return await self._thread.run(lambda: function(self._opened(), *args, **options))

    def notify(self, done: Ingested | None = None) -> None:
        """Something was stored (the collector's `on_commit`)."""
        self._wake.set()

    async def follow(self) -> None:
        """Fold what comes, until cancelled. A database error is logged, the store
        reopened at the next look."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()
            try:
                news = await self._thread.run(self._news, dict(self._cursors))
            except StoreError as exc:
                log.warning("web_database_failed", error=shown(str(exc), 500))
                await self._thread.run(self._drop)
                news = []
            for row in news:
                self.board.take(row.line, row.event)
                self._cursors[row.event.station] = row.event.seq
            self.version += 1 if news else 0
            await self.changed()

    async def changed(self) -> None:
        """Wake the pages: the board may have changed."""
        async with self.changes:
            self.changes.notify_all()

    def _news(self, cursors: dict[str, int]) -> list[StoredEvent]:
        store = self._opened()
        news: list[StoredEvent] = []
        for head in store.heads():
            after = cursors.get(head.station, 0)
            while after < head.head_seq:
                rows = [
                    r
                    for r in store.events(head.station, after, PAGE)
                    if r.event.seq <= head.head_seq
                ]
                if not rows:
                    break
                news += rows
                after = rows[-1].event.seq
        return news

    def _drop(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()

    async def close(self) -> None:
        await self._thread.run(self._drop)
        self._thread.shutdown()
