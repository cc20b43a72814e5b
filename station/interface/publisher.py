"""Publishing the station's status into the address space, never blocking the station.

Two halves, one per process (`station.interface.process`):

- `StatusFeed`, in the station's control loop: `notify()` (the Station changed) only
  sets a flag; one task takes the status snapshot, turns it into variable values,
  compares them with what it sent last and sends the server's process only the values
  that changed, so a burst of changes costs one pass (and a busy server process slows
  this task only, never the loop). It also samples every `refresh_s` for what
  changes without a notification (PLC inputs, which the drivers poll). New journal
  events are read once per pass that follows a change (the journal is the control
  loop's).
- `Publisher`, in the server's process: writes what it was sent into the address space
  (asyncua's writes and its subscriptions' notifications are the server's work), one
  pass after the other; while it writes, the next passes wait in the socket, and the
  feed's task (never the control loop) waits for room.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from structlog.typing import FilteringBoundLogger

from station import interface
from station.interface import V
from station.interface.channel import Channel, values_out
from station.interface.variables import Variables, event_summary, variables

if TYPE_CHECKING:  # neither process loads the other's half
    from station.interface.address_space import AddressSpace
    from station.runtime import Station

RECENT_EVENTS = 50
"""Journal events kept in Events/Recent."""

_UNSET = object()


class Publisher:
    """The status variables and Events/Recent in `space` (in the server's process)."""

    def __init__(self, space: AddressSpace, log: FilteringBoundLogger) -> None:
        self.space = space
        self.log = log

    async def add_variables(self, initial: Variables) -> None:
        """Create the variables with their first values."""
        for node_id, (value, variant_type) in initial.items():
            await self.space.add_variable(node_id, value, variant_type)

    async def write(self, changed: Variables) -> None:
        """Write the values of one pass of the station's feed, in the order they come:
        every state the station went through reaches the subscribers."""
        try:
            for node_id, (value, variant_type) in changed.items():
                if self.space.has_variable(node_id):
                    await self.space.write(node_id, value, variant_type)
                else:
                    await self.space.add_variable(node_id, value, variant_type)
        except Exception:
            self.log.exception("opcua_publish_failed")


class StatusFeed:
    """The station's status as variable values, sent to the `Publisher` of the server's
    process (in the control loop)."""

    def __init__(self, station: Station, refresh_s: float, log: FilteringBoundLogger) -> None:
        self.station = station
        self.refresh_s = refresh_s
        self.log = log
        self._sent: dict[str, Any] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._events_json = "[]"
        self._last_seq = 0
        self._dirty = asyncio.Event()

    def current(self) -> Variables:
        """Every variable's value now; what it returns counts as sent."""
        current = self._values()
        self._sent.update((k, v) for k, (v, _) in current.items())
        return current

    def start(self) -> None:
        """Read the journal's recent events (before `current()` and `run()`)."""
        last = self.station.journal.last()
        self._last_seq = max(0, (last.seq if last is not None else 0) - RECENT_EVENTS)
        self._read_events()

    def notify(self) -> None:
        """The station changed: publish at once (a flag; the pass runs in `run()`)."""
        self._dirty.set()

    async def run(self, channel: Channel) -> None:
        while True:
            notified = self._dirty.is_set()
            self._dirty.clear()
            try:
                if notified:
                    self._read_events()
                changed = self._changed()
            except Exception:
                self.log.exception("opcua_publish_failed")
            else:
                if changed:
                    await channel.send({"vars": values_out(changed)})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_s):
                    await self._dirty.wait()

    def _read_events(self) -> None:
        new = self.station.journal.events(after_seq=self._last_seq)
        if new:
            self._events.extend(event_summary(e) for e in new)
            self._last_seq = new[-1].seq
            self._events_json = json.dumps(list(self._events))

    def _values(self) -> Variables:
        current: Variables = variables(self.station.status())
        current[interface.EVENTS_JSON] = (self._events_json, V.String)
        return current

    def _changed(self) -> Variables:
        changed = {
            node_id: value
            for node_id, value in self._values().items()
            if self._sent.get(node_id, _UNSET) != value[0]
        }
        self._sent.update((k, v) for k, (v, _) in changed.items())
        return changed
