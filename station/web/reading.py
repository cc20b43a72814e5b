"""The web view's reads of the plant database that `station.plant.store.Store` does not
offer (yet): through the store's own connection and error helpers, blocking, so always
called from the web view's database thread (`station.web.live`), never on the event loop.

- `window(store, station, day)`: the events a station's tile and today's counters need:
  its newest `state` event, then everything from the older of its last `cycle_started`
  and its first event of the day;
- `vehicle_history(store, kinds, since)`: the events of some kinds naming a VIN since a
  time (the vehicles on the line: held, queued, in WIP);
- `search(store, part)`: the VINs containing `part`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from station.plant.store import _SELECT, Store, StoredEvent, _stored

SEARCH_LIMIT = 50


def _rows(store: Store, doing: str, sql: str, params: Sequence[Any]) -> list[Any]:
    with store._errors(doing), store._reading() as cursor:
        cursor.execute(store._sql(sql), params)
        return cursor.fetchall()


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


def window(store: Store, station: str, day: str) -> list[StoredEvent]:
    """The newest `state` event of `station`, then its events from the older of its last
    `cycle_started` and its first event on or after `day` (YYYY-MM-DD, UTC)."""
    doing = "reading a station's recent events"
    state = _rows(
        store,
        doing,
        f"{_SELECT} WHERE station = ? AND kind = 'state' ORDER BY seq DESC LIMIT 1",
        (station,),
    )
    (started,) = _rows(
        store,
        doing,
        "SELECT MAX(seq) FROM events WHERE station = ? AND kind = 'cycle_started'",
        (station,),
    )
    (first_today,) = _rows(
        store, doing, "SELECT MIN(seq) FROM events WHERE station = ? AND wall >= ?", (station, day)
    )
    starts = [s for s in (started[0], first_today[0]) if s is not None]
    events = [_stored(row) for row in state]
    if starts:
        after = min(starts) - 1
        rows = _rows(
            store, doing, f"{_SELECT} WHERE station = ? AND seq > ? ORDER BY seq", (station, after)
        )
        events += [_stored(row) for row in rows]
    return events


def vehicle_history(store: Store, kinds: Sequence[str], since: str) -> list[StoredEvent]:
    """The events of `kinds` naming a VIN from `since` (a journal wall time) on, in wall
    order (the vehicles on the line, the held list)."""
    rows = _rows(
        store,
        "reading the vehicles' history",
        f"{_SELECT} WHERE vin IS NOT NULL AND kind IN ({_placeholders(len(kinds))}) "
        "AND wall >= ? ORDER BY wall, station, seq",
        (*kinds, since),
    )
    return [_stored(row) for row in rows]


def search(store: Store, part: str) -> list[str]:
    """VINs containing `part` (upper-cased; `%` and `_` taken literally), at most
    SEARCH_LIMIT, sorted."""
    pattern = part.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = _rows(
        store,
        "searching VINs",
        "SELECT DISTINCT vin FROM events WHERE vin LIKE ? ESCAPE '\\' ORDER BY vin LIMIT ?",
        (f"%{pattern}%", SEARCH_LIMIT),
    )
    return [row[0] for row in rows]
