"""The figures page's numbers, computed here from the stored events (`station plant
report`'s store queries are not on main yet; once they are, `figures` returns the
report's document instead, and the page draws the same fields).

Over [since, until), per line:
- throughput per hour: vehicles released to sale (passed at the `exit` operation, as
  the passport says released) per UTC hour, against the target per hour (the line's
  share of the plant's daily target / 24);
- lead time: from a released vehicle's first event anywhere to its release (p50, p90
  and every value, for the distribution);
- first-pass yield per gate: of the vehicles with a verdict at an operation, the share
  whose first verdict there was `pass`;
- PackML state time per station: the time between each `state` event and the next
  (the last one up to `until`, or now when earlier), clipped to the range.

Blocking: called in the web view's database thread.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from station.plant.passport import EXIT_OPERATION
from station.plant.store import Store, StoredEvent
from station.web import reading
from station.web.board import wall_seconds

KINDS = ("admitted", "verdict", "released", "state")
STATES = ("Execute", "Held", "Aborted", "Suspended", "Stopped", "Idle")
SOURCE = "computed by station/web/figures.py from the stored events"


@dataclass
class _Line:
    released: dict[str, str] = field(default_factory=dict)
    """VIN -> wall time of its release to sale."""
    first_verdicts: dict[str, dict[str, str]] = field(default_factory=dict)
    """Operation -> VIN -> its first verdict there."""
    state_time: dict[str, dict[str, float]] = field(default_factory=dict)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _fold_station(rows: list[StoredEvent], figures: _Line, end: float) -> None:
    operation: str | None = None
    state: tuple[str, float] | None = None
    times = figures.state_time.setdefault(rows[0].event.station, dict.fromkeys(STATES, 0.0))
    for row in rows:
        event = row.event
        if event.kind == "admitted":
            named = event.data.get("operation")
            operation = named if isinstance(named, str) else None
        elif event.kind == "verdict" and operation and event.vin and event.result:
            figures.first_verdicts.setdefault(operation, {}).setdefault(event.vin, event.result)
        elif event.kind == "released" and event.vin and event.result == "passed":
            if operation == EXIT_OPERATION:
                figures.released[event.vin] = event.wall
        elif event.kind == "state" and event.result:
            at = wall_seconds(event.wall)
            if state is not None and state[0] in times:
                times[state[0]] += at - state[1]
            state = (event.result, at)
    if state is not None and state[0] in times:
        times[state[0]] += max(0.0, end - state[1])


def figures(
    store: Store, since: str, until: str, now: float, target_per_day: int, lines: list[str]
) -> dict[str, Any]:
    """The document of `/api/figures` for [since, until) (ISO times, UTC)."""
    rows = reading.between(store, KINDS, since, until)
    end = min(wall_seconds(until), now)
    by_line: dict[str, _Line] = defaultdict(_Line)
    start = 0
    for index in range(1, len(rows) + 1):
        if index == len(rows) or rows[index].event.station != rows[start].event.station:
            _fold_station(rows[start:index], by_line[rows[start].line], end)
            start = index
    released = {vin for line in by_line.values() for vin in line.released}
    first = reading.first_seen(store, released)
    names = sorted({*lines, *by_line})
    share = target_per_day / max(1, len(names))
    return {
        "since": since,
        "until": until,
        "source": SOURCE,
        "lines": [_line_document(name, by_line[name], first, share) for name in names],
    }


def _line_document(
    name: str, line: _Line, first: dict[str, str], target_per_day: float
) -> dict[str, Any]:
    hours: dict[str, int] = defaultdict(int)
    for wall in line.released.values():
        hours[wall[:13] + ":00Z"] += 1
    leads = [
        wall_seconds(wall) - wall_seconds(first[vin])
        for vin, wall in line.released.items()
        if vin in first
    ]
    return {
        "line": name,
        "released": len(line.released),
        "target_per_day": round(target_per_day),
        "target_per_hour": round(target_per_day / 24, 2),
        "throughput_per_hour": [{"hour": h, "released": n} for h, n in sorted(hours.items())],
        "lead_time_s": {
            "p50": round(percentile(leads, 0.5), 3),
            "p90": round(percentile(leads, 0.9), 3),
            "values": sorted(round(v, 3) for v in leads),
        },
        "gates": [
            {
                "operation": operation,
                "vehicles": len(verdicts),
                "first_pass_yield": round(
                    sum(v == "pass" for v in verdicts.values()) / len(verdicts), 4
                ),
            }
            for operation, verdicts in sorted(line.first_verdicts.items())
        ],
        "stations": [
            {"station": station, "state_time_s": {k: round(v, 3) for k, v in times.items()}}
            for station, times in sorted(line.state_time.items())
        ],
    }


def day_range(now: float) -> tuple[str, str]:
    """Today (UTC) as [since, until)."""
    day = datetime.fromtimestamp(now, UTC).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return iso(start.timestamp()), iso(start.timestamp() + 86400)


def iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
