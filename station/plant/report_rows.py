"""The report's rows: one narrow row per stored event the plant report reads (table
`report_rows`, migration 3), written in the transaction that stores the event.

The report folds months of events (`station.plant.report`); reading them from `events`
cost a random page read, a JSON parse and a date parse each (a day's report of a year's
database: 5.6 s). Here each is one row of the columns the fold uses: the event's time as
seconds since the epoch (`t`, from its wall time by `seconds`), and of its data the one
field its kind needs (`detail`: an admission's operation, a tag write's content, a hold's
message; NULL when the field is absent or not text), keyed by (station, seq), indexed by
time. `events` stays the record; these rows are derived from it, and a database migrated
to version 3 gets them for every event it already holds (`fill`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

from station.journal import Event

DETAIL = {"admitted": "operation", "tag_write": "tag", "hold": "message"}
"""Kind -> the field of its data the report reads."""
KINDS = ("admitted", "cycle_ended", "verdict", "measured", "tag_write", "released", "hold", "state")
"""The kinds the report reads."""
COLUMNS = ("station", "seq", "kind", "vin", "result", "t", "line", "detail")
ReportRow = tuple[str, int, str, str | None, str | None, float, str, str | None]
"""A row as `COLUMNS` (a plain tuple: the report folds millions of them)."""
STATION: Final = 0
T: Final = 5
LINE: Final = 6
"""Positions in `COLUMNS` (literals: mypy types a tuple's item by them)."""
INSERT = (
    f"INSERT INTO report_rows ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT (station, seq) DO NOTHING"
)
FILL_CHUNK = 5000


def seconds(wall: str) -> float:
    """Seconds since the epoch of a journal wall time (ISO 8601; 'Z' or an offset; UTC
    when it has neither)."""
    moment = datetime.fromisoformat(wall.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def row_of(event: Event, line: str) -> tuple[Any, ...] | None:
    """The report's row of a stored event, or None for a kind the report does not read."""
    if event.kind not in KINDS:
        return None
    field = DETAIL.get(event.kind)
    detail = None if field is None else event.data.get(field)
    return (
        event.station,
        event.seq,
        event.kind,
        event.vin,
        event.result,
        seconds(event.wall),
        line,
        detail if isinstance(detail, str) else None,
    )


def rows_of(events: Iterable[tuple[Event, str]]) -> Iterator[tuple[Any, ...]]:
    """The report's rows of (event, line) pairs, skipping the kinds it does not read."""
    for event, line in events:
        row = row_of(event, line)
        if row is not None:
            yield row


def fill(cursor: Any, sql: Callable[[str], str]) -> None:
    """Migration 3's step: the report's rows of every event already stored, read by
    (station, seq) a chunk at a time (a year of the plant does not fit in memory)."""
    from station.plant.store import _SELECT, _stored

    marks = ", ".join("?" * len(KINDS))
    after: tuple[str, int] = ("", 0)
    while True:
        cursor.execute(
            sql(
                f"{_SELECT} WHERE kind IN ({marks}) AND (station > ? OR (station = ? AND seq > ?)) "
                f"ORDER BY station, seq LIMIT {FILL_CHUNK}"
            ),
            (*KINDS, after[0], after[0], after[1]),
        )
        stored = [_stored(row) for row in cursor.fetchall()]
        if not stored:
            return
        cursor.executemany(sql(INSERT), list(rows_of((s.event, s.line) for s in stored)))
        after = (stored[-1].event.station, stored[-1].event.seq)
