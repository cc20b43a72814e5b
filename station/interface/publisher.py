"""Publishing the station's status into the address space, never blocking the station:
`notify()` only sets a flag, one task (`run()`) writes what changed (the design:
`station.interface.server`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any

from structlog.typing import FilteringBoundLogger

from station import interface
from station.interface.address_space import AddressSpace
from station.interface.variables import V, Variables, event_summary, variables
from station.runtime import Station

RECENT_EVENTS = 50
"""Journal events kept in Events/Recent."""

_UNSET = object()


class Publisher:
    """The status variables and Events/Recent of `station` in `space`."""

    def __init__(
        self, station: Station, space: AddressSpace, refresh_s: float, log: FilteringBoundLogger
    ) -> None:
        self.station = station
        self.space = space
        self.refresh_s = refresh_s
        self.log = log
        self._published: dict[str, Any] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._last_seq = 0
        self._dirty = asyncio.Event()

    async def add_variables(self) -> None:
        """Create the variables with the station's status now (before `run()`)."""
        status = variables(self.station.status())
        for node_id, (value, variant_type) in status.items():
            await self.space.add_variable(node_id, value, variant_type)
        await self.space.add_variable(interface.EVENTS_JSON, "[]", V.String)
        self._published = {k: v for k, (v, _) in status.items()}

    def notify(self) -> None:
        """The station changed: publish at once (a flag; the pass runs in `run()`)."""
        self._dirty.set()

    async def run(self) -> None:
        self._read_events(initial=True)
        while True:
            notified = self._dirty.is_set()
            self._dirty.clear()
            try:
                if notified:
                    self._read_events()
                await self._publish()
            except Exception:
                self.log.exception("opcua_publish_failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_s):
                    await self._dirty.wait()

    def _read_events(self, *, initial: bool = False) -> None:
        journal = self.station.journal
        if initial:
            last = journal.last()
            self._last_seq = max(0, (last.seq if last is not None else 0) - RECENT_EVENTS)
        new = journal.events(after_seq=self._last_seq)
        if new:
            self._events.extend(event_summary(e) for e in new)
            self._last_seq = new[-1].seq

    async def _publish(self) -> None:
        current: Variables = variables(self.station.status())
        current[interface.EVENTS_JSON] = (json.dumps(list(self._events)), V.String)
        for node_id, (value, variant_type) in current.items():
            if not self.space.has_variable(node_id):
                await self.space.add_variable(node_id, value, variant_type)
            elif self._published.get(node_id, _UNSET) == value:
                continue
            else:
                await self.space.write(node_id, value, variant_type)
            self._published[node_id] = value
