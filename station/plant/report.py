"""The plant figures from the replica (`station plant report`, docs/cli.md).

One read of the store (`Store.report_rows`): the report's rows (`station.plant.report_rows`:
the kinds of event it reads, each with its time and the one field of its data it needs)
whose time is in [since - horizon, until), by station then seq, folded here station by
station.
The horizon (default 30 days, four times the 8-day promise) gives each vehicle and each
station its history before `since`: a vehicle that entered before the window and is
still on the line counts in WIP, a station's state at `since` is its last `state` event
before it. A vehicle or a station with no event within the horizon is not in the report.

Per vehicle (its line: the line of its first event):
- entered: its first cycle that ended anywhere (the check-in's) ended in the window;
- released: a `released` event passed at the exit operation (the line's `check_out`
  operation, `exit` without a line file) in the window;
- held: at `until`, its last cycle ended `held` (a supervisor removed it), or its last tag
  write holds it for a supervisor (rework loops used up, an operation failed); with the
  reason (the hold's kind and message, or the tag's cause and operation) and its age; a
  later admission somewhere clears it;
- WIP: entered (whenever, within the horizon), neither released nor held at `until`;
- stranded: in WIP with no event for longer than `stranded_after_s`.
Per line: throughput per hour and per day (released over the window's length), against
the target per day (the line file's `target_per_day`, else `DEFAULT_LINE_TARGET`: the
plant's 180 a day over its 4 lines, docs/plant.md); lead time p50/p90 of the vehicles
released in the window (first event anywhere to the release); per gate (the line file's
gates, else every operation that journaled a verdict, a measurement or a failed cycle):
first-pass yield (of the vehicles whose first cycle there ended in the window, the share
that passed it), failed cycles, rework loops (failed cycles that sent the vehicle to the
rework bay) and holds after a fail. Per station: cycles and their results in the window,
the vehicle in it at `until`, its PackML state then, the time in each state within the
window (from its `state` events, the last one up to `until`), its last event.

Blocking: call it off the event loop (the command runs it in a thread of its own).
Strings from the database are stations' strings: shown bounded by the command.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from station.plant.lines import LineFacts, per_shift
from station.plant.report_rows import LINE, STATION, ReportRow, T
from station.plant.store import Store
from station.route import HoldCause, RouteSnapshot, next_operation
from station.tag import TagError, decode

PLANT_TARGET = 180
HORIZON_S = 30 * 86400.0
STRANDED_AFTER_S = 3600.0
STATES = ("Execute", "Held", "Aborted", "Suspended", "Stopped")
_TAG_MAGIC = b"VP"
_TAG_HOLD_BYTE = 3
_HOLD_CAUSES: tuple[str, ...] = get_args(HoldCause)


def wall_of(moment: float) -> str:
    """The journal's own wall format (UTC, microseconds): compared as text in SQL."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds")


def tag_hold(tag_hex: object) -> str | None:
    """The hold cause a tag content (hex) carries (docs: station/tag.py's layout, byte 3),
    None for none or a content that is not a tag."""
    if not isinstance(tag_hex, str):
        return None
    try:
        raw = bytes.fromhex(tag_hex)
    except ValueError:
        return None
    if len(raw) <= _TAG_HOLD_BYTE or raw[:2] != _TAG_MAGIC:
        return None
    cause = raw[_TAG_HOLD_BYTE]
    return _HOLD_CAUSES[cause - 1] if 1 <= cause <= len(_HOLD_CAUSES) else None


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return round(ordered[int(rank) - 1], 3)


@dataclass
class _Vehicle:
    vin: str
    line: str
    first_wall: float
    entered: float | None = None
    released: float | None = None
    held: tuple[float, str, str] | None = None
    """(since, station, reason) while held."""
    last_wall: float = 0.0
    last_station: str = ""
    last_kind: str = ""
    tag: tuple[float, str] | None = None
    """(when, hex) of its newest tag write."""


@dataclass
class _Gate:
    operation: str
    first: dict[str, str] = field(default_factory=dict)
    """VIN -> result of its first cycle here (those that ended in the window)."""
    seen: set[str] = field(default_factory=set)
    failed: int = 0
    rework_loops: int = 0
    held_after_fail: int = 0
    is_gate: bool = False


@dataclass
class _Station:
    station: str
    line: str
    operation: str | None = None
    cycles: int = 0
    results: dict[str, int] = field(default_factory=dict)
    in_station: str | None = None
    state: str | None = None
    state_since: float | None = None
    state_time: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STATES, 0.0))
    last_wall: float | None = None


@dataclass
class _Fold:
    since: float
    until: float
    facts: Mapping[str, LineFacts]
    vehicles: dict[str, _Vehicle] = field(default_factory=dict)
    stations: dict[str, _Station] = field(default_factory=dict)
    gates: dict[tuple[str, str], _Gate] = field(default_factory=dict)
    _exits: dict[str, str] = field(default_factory=dict)

    def exit_of(self, line: str) -> str:
        known = self._exits.get(line)
        if known is None:
            known = self._exits[line] = self.facts.get(line, LineFacts()).exit_operation
        return known

    def gate(self, line: str, operation: str) -> _Gate:
        key = (line, operation)
        known = self.gates.get(key)
        if known is None:
            known = self.gates[key] = _Gate(operation)
        return known

    def station_rows(self, station: str, rows: list[ReportRow]) -> None:
        post = self.stations.setdefault(station, _Station(station, rows[0][LINE]))
        cycle_hold: str | None = None
        last_hold: dict[str, str] = {}
        vehicles = self.vehicles
        for _, _, kind, vin, result, at, line, detail in rows:
            if kind == "state":
                self._state(post, result, at)
                continue
            vehicle = None if vin is None else vehicles.get(vin)
            if vehicle is None and vin is not None:
                vehicle = vehicles[vin] = _Vehicle(vin, line, at)
            if vehicle is not None:
                if at < vehicle.first_wall:
                    vehicle.first_wall = at
                if at >= vehicle.last_wall:
                    vehicle.last_wall, vehicle.last_station = at, station
                    vehicle.last_kind = kind
            if kind == "admitted":
                post.operation = detail if detail is not None else post.operation
                post.in_station = vin
                cycle_hold = None
                if vehicle is not None and vehicle.held is not None and vehicle.held[0] <= at:
                    vehicle.held = None
            elif kind in ("verdict", "measured") and post.operation is not None:
                self.gate(line, post.operation).is_gate = True
            elif kind == "hold" and vin is not None:
                reason = f"{result}: {detail}" if detail is not None else result
                last_hold[vin] = reason or "hold"
            elif kind == "tag_write":
                cycle_hold = tag_hold(detail)
                newer = vehicle is not None and (vehicle.tag is None or at >= vehicle.tag[0])
                if vehicle is not None and newer and detail is not None:
                    vehicle.tag = (at, detail)
            elif kind == "released" and vehicle is not None and result == "passed":
                if post.operation == self.exit_of(line):
                    vehicle.released = at
            elif kind == "cycle_ended":
                self._cycle_ended(post, line, result or "", at, vehicle, cycle_hold, last_hold)
                cycle_hold = None
        post.line, post.last_wall = rows[-1][LINE], rows[-1][T]

    def _state(self, post: _Station, state: str | None, at: float) -> None:
        if post.state is not None and post.state_since is not None:
            start, end = max(post.state_since, self.since), min(at, self.until)
            if end > start:
                post.state_time[post.state] = post.state_time.get(post.state, 0.0) + end - start
        post.state, post.state_since = state, at

    def _cycle_ended(
        self,
        post: _Station,
        line: str,
        result: str,
        at: float,
        vehicle: _Vehicle | None,
        cycle_hold: str | None,
        last_hold: dict[str, str],
    ) -> None:
        post.in_station = None
        in_window = at >= self.since
        if in_window:
            post.cycles += 1
            post.results[result] = post.results.get(result, 0) + 1
        if vehicle is None:
            return
        if vehicle.entered is None or at < vehicle.entered:
            vehicle.entered = at
        if result == "held":
            vehicle.held = (at, post.station, last_hold.get(vehicle.vin, "held at the station"))
        elif cycle_hold is not None:
            why = f"{cycle_hold} at {post.operation or post.station}: waits for a supervisor"
            vehicle.held = (at, post.station, why)
        if post.operation is None or not in_window:
            return
        gate = self.gate(line, post.operation)
        if vehicle.vin not in gate.seen:
            gate.seen.add(vehicle.vin)
            gate.first[vehicle.vin] = result
        if result == "failed":
            gate.is_gate = True
            gate.failed += 1
            if cycle_hold is None:
                gate.rework_loops += 1
            else:
                gate.held_after_fail += 1

    def close(self) -> None:
        for post in self.stations.values():
            if post.state is not None:
                self._state(post, post.state, self.until)


def queues(vehicles: Iterable[_Vehicle], route: RouteSnapshot) -> dict[str, list[_Vehicle]]:
    """Station -> the vehicles waiting for it: they left their last station (its cycle
    ended) and their newest tag sends them there (the route rules, as the conveyor)."""
    waiting: dict[str, list[_Vehicle]] = {}
    for vehicle in vehicles:
        if vehicle.last_kind != "cycle_ended" or vehicle.tag is None:
            continue
        try:
            progress = decode(bytes.fromhex(vehicle.tag[1]), route)
        except (TagError, ValueError):
            continue  # a tag of another route, or not a tag: nowhere known
        target = next_operation(route, progress)
        if target is None:
            continue
        # before parallel stations the queue is theirs together: each shows it
        for station in target.served_by:
            waiting.setdefault(station, []).append(vehicle)
    return waiting


def _station_document(post: _Station, queued: list[_Vehicle] | None) -> dict[str, Any]:
    return {
        "station": post.station,
        "operation": post.operation,
        "cycles": post.cycles,
        "results": dict(sorted(post.results.items())),
        "in_station": post.in_station,
        "state": post.state,
        "state_time_s": {k: round(v, 3) for k, v in post.state_time.items()},
        "last_event": None if post.last_wall is None else wall_of(post.last_wall),
        "queue": None if queued is None else len(queued),
        "queued": [
            {"vin": v.vin, "since": wall_of(v.last_wall)}
            for v in sorted(queued or [], key=lambda v: (v.last_wall, v.vin))
        ],
    }


def _line_document(
    line: str,
    fold: _Fold,
    facts: LineFacts,
    stranded_after_s: float,
) -> dict[str, Any]:
    since, until = fold.since, fold.until
    vehicles = [v for v in fold.vehicles.values() if v.line == line]
    entered = [v for v in vehicles if v.entered is not None and since <= v.entered < until]
    released = [v for v in vehicles if v.released is not None and since <= v.released < until]
    held = [v for v in vehicles if v.held is not None and v.released is None]
    wip = [v for v in vehicles if v.entered is not None and v.released is None and v.held is None]
    stranded = [v for v in wip if until - v.last_wall > stranded_after_s]
    queued = None if facts.route is None else queues(wip, facts.route)
    span = max(until - since, 1.0)
    leads = [v.released - v.first_wall for v in released if v.released is not None]
    gates = [
        gate
        for (gate_line, operation), gate in sorted(fold.gates.items())
        if gate_line == line and (operation in facts.gates or (not facts.gates and gate.is_gate))
    ]
    order = {name: index for index, name in enumerate(facts.order)}
    stations = sorted(
        (p for p in fold.stations.values() if p.line == line),
        key=lambda p: (order.get(p.station, len(order)), p.station),
    )
    return {
        "line": line,
        "entered": len(entered),
        "released": len(released),
        "held": len(held),
        "wip": len(wip),
        "throughput_per_hour": round(len(released) * 3600 / span, 3),
        "throughput_per_day": round(len(released) * 86400 / span, 3),
        "target_per_day": facts.target_per_day,
        "throughput_per_shift": per_shift(
            [v.released for v in released if v.released is not None],
            since,
            until,
            shifts=facts.shifts,
            timezone=facts.timezone,
            target_per_day=facts.target_per_day,
        ),
        "lead_time_s": {"p50": percentile(leads, 0.5), "p90": percentile(leads, 0.9)},
        **_series(released, leads),
        "gates": [
            {
                "operation": gate.operation,
                "first_pass_yield": (
                    round(sum(r == "passed" for r in gate.first.values()) / len(gate.first), 4)
                    if gate.first
                    else None
                ),
                "vehicles": len(gate.first),
                "failed_cycles": gate.failed,
                "rework_loops": gate.rework_loops,
                "held_after_fail": gate.held_after_fail,
            }
            for gate in gates
        ],
        "held_vehicles": [
            {
                "vin": v.vin,
                "station": v.held[1],
                "reason": v.held[2],
                "since": wall_of(v.held[0]),
                "age_s": round(until - v.held[0], 3),
            }
            for v in sorted(held, key=lambda v: v.vin)
            if v.held is not None
        ],
        "stranded": [
            {
                "vin": v.vin,
                "last_station": v.last_station,
                "last_event": wall_of(v.last_wall),
                "idle_s": round(until - v.last_wall, 3),
            }
            for v in sorted(stranded, key=lambda v: v.vin)
        ],
        "stations": [
            _station_document(p, None if queued is None else queued.get(p.station, []))
            for p in stations
        ],
    }


def _series(released: list[_Vehicle], leads: list[float]) -> dict[str, Any]:
    """The figures page's series: released per UTC hour, and every lead time (sorted)."""
    hours: dict[str, int] = {}
    for vehicle in released:
        if vehicle.released is not None:
            hour = wall_of(vehicle.released)[:13] + ":00Z"
            hours[hour] = hours.get(hour, 0) + 1
    return {
        "released_per_hour": [{"hour": h, "released": n} for h, n in sorted(hours.items())],
        "lead_times_s": sorted(round(lead, 3) for lead in leads),
    }


def group_by_station(rows: Iterable[ReportRow]) -> Iterable[tuple[str, list[ReportRow]]]:
    """Rows ordered by station then seq, a list per station."""
    current: list[ReportRow] = []
    for row in rows:
        if current and row[STATION] != current[0][STATION]:
            yield current[0][STATION], current
            current = []
        current.append(row)
    if current:
        yield current[0][STATION], current


def report(
    store: Store,
    since: float,
    until: float,
    *,
    lines: Mapping[str, LineFacts] | None = None,
    horizon_s: float = HORIZON_S,
    stranded_after_s: float = STRANDED_AFTER_S,
) -> dict[str, Any]:
    """The report's document (docs/cli.md `station plant report --json`) for [since,
    until), times in seconds since the epoch."""
    facts = dict(lines or {})
    fold = _Fold(since, until, facts)
    rows = store.report_rows(since - horizon_s, until)
    for station, station_rows in group_by_station(rows):
        fold.station_rows(station, station_rows)
    fold.close()
    names = sorted({p.line for p in fold.stations.values()} | set(facts))
    documents = [
        _line_document(name, fold, facts.get(name, LineFacts()), stranded_after_s) for name in names
    ]
    span = max(until - since, 1.0)
    released = sum(d["released"] for d in documents)
    return {
        "since": wall_of(since),
        "until": wall_of(until),
        "plant": {
            "entered": sum(d["entered"] for d in documents),
            "released": released,
            "held": sum(d["held"] for d in documents),
            "wip": sum(d["wip"] for d in documents),
            "stranded": sum(len(d["stranded"]) for d in documents),
            "throughput_per_day": round(released * 86400 / span, 3),
            "target_per_day": PLANT_TARGET,
        },
        "lines": documents,
    }


def default_window(now: float) -> tuple[float, float]:
    """Today (UTC) up to now."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp(), now


def parse_time(text: str, now: float) -> float:
    """`--since`/`--until`: ISO 8601 (a date, or a date and time; UTC unless an offset
    is given), `now`, or `N[smhd]` (N seconds/minutes/hours/days before now; `-N[smhd]` too).
    ValueError naming the problem."""
    text = text.strip()
    if text == "now":
        return now
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    ago = text.removeprefix("-")
    if ago[-1:] in units and ago[:-1].isdigit():
        return now - int(ago[:-1]) * units[ago[-1]]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{json.dumps(text[:40])} is not a time (ISO 8601 like 2026-12-04 or "
            "2026-12-04T06:00:00Z, `now`, or N[smhd] ago)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
