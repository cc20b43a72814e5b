"""What the plant report (`station.plant.report`) knows of a line (`LineFacts`, from its
line file: `line_facts`), and its throughput per shift (`per_shift`).

A line's working day is cut into shifts (the line file's `shifts:`, default
`DEFAULT_SHIFTS`: 3 x 8 h from 06:00), each running from its start to the next one's, the
last one until the first one's start the next day, in the plant's local time (the line
file's `timezone:`, default the machine's), daylight saving included. Over a window
[since, until) each shift gets the vehicles released while it ran and the hours it ran
within the window; `per_shift` is the released scaled to one whole shift (released x the
shift's hours / the hours covered), against the line's target per day x hours / 24.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from station.config.models import LineFile
from station.route import RouteSnapshot

DEFAULT_LINE_TARGET = 45
EXIT_OPERATION = "exit"

DEFAULT_SHIFTS: tuple[tuple[str, str], ...] = (
    ("morning", "06:00"),
    ("afternoon", "14:00"),
    ("night", "22:00"),
)


@dataclass(frozen=True)
class LineFacts:
    """What a line file tells the report (from `--line-config`)."""

    target_per_day: int = DEFAULT_LINE_TARGET
    exit_operation: str = EXIT_OPERATION
    gates: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    """Stations in route order (rework bay last)."""
    route: RouteSnapshot | None = None
    """The route, to read where a vehicle goes next from its tag (the queues)."""
    shifts: tuple[tuple[str, str], ...] = DEFAULT_SHIFTS
    """(name, HH:MM start in local time), `station.plant.shifts`."""
    timezone: str | None = None


def line_facts(model: LineFile) -> LineFacts:
    """What the report takes of a line file (`--line-config`)."""
    route = model.route
    exits = [op.operation for op in route.operations if op.kind == "check_out"]
    shifts = tuple((shift.name, shift.start) for shift in model.shifts)
    return LineFacts(
        target_per_day=model.target_per_day or DEFAULT_LINE_TARGET,
        exit_operation=exits[-1] if exits else route.operations[-1].operation,
        gates=tuple(op.operation for op in route.operations if op.gate),
        order=(
            *dict.fromkeys(s for op in route.operations for s in op.served_by),
            route.rework.station,
        ),
        route=RouteSnapshot.from_line(model),
        shifts=shifts or DEFAULT_SHIFTS,
        timezone=model.timezone,
    )


def zone(name: str | None) -> tzinfo:
    """The plant's time zone: `name` (IANA), else the machine's local one."""
    if name is not None:
        return ZoneInfo(name)
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def _minutes(start: str) -> int:
    hours, minutes = start.split(":")
    return int(hours) * 60 + int(minutes)


def _runs(
    shifts: Sequence[tuple[str, str]], since: float, until: float, where: tzinfo
) -> Iterable[tuple[int, float, float]]:
    """(shift index, start, end) of every shift run that overlaps [since, until)."""
    ordered = sorted(range(len(shifts)), key=lambda i: _minutes(shifts[i][1]))
    day = datetime.fromtimestamp(since, where).date() - timedelta(days=1)
    last = datetime.fromtimestamp(until, where).date()
    while day <= last:
        for position, index in enumerate(ordered):
            begin = datetime.combine(day, time.fromisoformat(shifts[index][1]), where)
            following = ordered[(position + 1) % len(ordered)]
            end_day = day if position + 1 < len(ordered) else day + timedelta(days=1)
            end = datetime.combine(end_day, time.fromisoformat(shifts[following][1]), where)
            start_s, end_s = begin.timestamp(), end.timestamp()
            if end_s > since and start_s < until:
                yield index, start_s, end_s
        day += timedelta(days=1)


def per_shift(
    released: Iterable[float],
    since: float,
    until: float,
    *,
    shifts: Sequence[tuple[str, str]] = DEFAULT_SHIFTS,
    timezone: str | None = None,
    target_per_day: float,
) -> list[dict[str, Any]]:
    """The `throughput_per_shift` of a line (docs/cli.md), shifts in start order."""
    where = zone(timezone)
    runs = list(_runs(shifts, since, until, where))
    covered = [0.0] * len(shifts)
    lengths = [0.0] * len(shifts)
    for index, begin, end in runs:
        covered[index] += min(end, until) - max(begin, since)
        lengths[index] = end - begin
    counts = [0] * len(shifts)
    for moment in released:
        for index, begin, end in runs:
            if begin <= moment < end:
                counts[index] += 1
                break
    out = []
    for index in sorted(range(len(shifts)), key=lambda i: _minutes(shifts[i][1])):
        name, start = shifts[index]
        hours = lengths[index] / 3600 or _nominal_hours(shifts, index)
        covered_h = covered[index] / 3600
        out.append(
            {
                "shift": name,
                "start": start,
                "hours": round(hours, 3),
                "covered_h": round(covered_h, 3),
                "released": counts[index],
                "per_shift": round(counts[index] * hours / covered_h, 3) if covered_h else None,
                "target_per_shift": round(target_per_day * hours / 24, 3),
            }
        )
    return out


def _nominal_hours(shifts: Sequence[tuple[str, str]], index: int) -> float:
    """A shift's length on a day without a clock change (for a window it never covers)."""
    starts = sorted(_minutes(start) for _, start in shifts)
    mine = _minutes(shifts[index][1])
    later = [m for m in starts if m > mine]
    return ((later[0] if later else starts[0] + 1440) - mine) / 60
