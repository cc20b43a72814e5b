"""The andon board's live model: the stored events folded into one tile per station,
the held vehicles and today's counters per line (docs/architecture.md section 7a).

Pure: `Board.take(line, event)` folds one stored event (in each station's seq order);
`Board.view(...)` is what a page shows at a moment. The web view (`station.web.live`)
feeds it from the plant database, never the other way round.

What a tile shows, from the station's newest events:
- `state`: the PackML state (the `state` event's result), in the console's colour class
  (`station.console.widgets.state_banner.STATE_CLASSES`) and as text;
- the vehicle in the station (from `identified`, `admitted` or a step's VIN after a
  `cycle_started`; gone with `released`), its model and operation;
- the last step (`step_started`: running; `step_done`: its result; `hold`: held);
- active alarms (`alarm_raised` until `alarm_cleared`), highest priority (lowest
  number) first;
- STALE when its newest event is older than `stale_after_s` (the station may be down,
  its link lost, or the collector behind).

Held vehicles: a `hold` event (reason: its message, else its result), or a cycle ended
`held`, until the vehicle is released, disposed of, or ends a cycle otherwise.
Today's counters (the UTC day of the events' wall time): entered (VINs with their
intake `progress` event), released (passed at the `exit` operation, as the passport
says released), held (VINs put on hold), against the daily target (the plant's, shared
evenly by its lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from station.console.widgets.state_banner import STATE_CLASSES
from station.journal import Event
from station.plant.passport import EXIT_OPERATION

TARGET_PER_DAY = 180
STALE_AFTER_S = 60.0
PLANT = "plant"
"""The board of every line at once (`/lines/plant`)."""
NO_STATE = "no state yet"


def wall_seconds(wall: str) -> float:
    return datetime.fromisoformat(wall.replace("Z", "+00:00")).timestamp()


def day_of(wall: str) -> str:
    return wall[:10]


def today(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


@dataclass
class Tile:
    station: str
    line: str
    state: str = NO_STATE
    state_since: str | None = None
    vin: str | None = None
    model: str | None = None
    operation: str | None = None
    step: str | None = None
    step_result: str | None = None
    last_result: str | None = None
    """The result of the station's last cycle (passed, failed, rework, held)."""
    alarms: dict[str, tuple[int, str]] = field(default_factory=dict)
    last_wall: str | None = None
    last_seq: int = 0

    def take(self, event: Event) -> None:
        kind, data = event.kind, event.data
        self.last_wall, self.last_seq = event.wall, event.seq
        if kind == "state" and event.result:
            self.state, self.state_since = event.result, event.wall
        elif kind == "cycle_started":
            self.vin = self.model = self.operation = self.step = self.step_result = None
        elif kind == "identified":
            self.vin = event.vin
            model = data.get("model")
            self.model = model if isinstance(model, str) else None
        elif kind == "admitted":
            self.vin = event.vin or self.vin
            operation = data.get("operation")
            self.operation = operation if isinstance(operation, str) else None
        elif kind == "step_started":
            self.vin = event.vin or self.vin
            self.step, self.step_result = event.step, "running"
        elif kind == "step_done":
            self.step, self.step_result = event.step, event.result
        elif kind == "hold":
            self.step_result = f"held: {event.result or 'hold'}"
        elif kind == "cycle_ended":
            self.last_result = event.result
        elif kind == "released":
            self.vin = self.model = None
        elif kind == "alarm_raised" and event.result:
            priority = data.get("priority")
            text = data.get("text")
            self.alarms[event.result] = (
                priority if isinstance(priority, int) else 9,
                text if isinstance(text, str) else event.result,
            )
        elif kind == "alarm_cleared" and event.result:
            self.alarms.pop(event.result, None)


@dataclass(frozen=True)
class HeldVehicle:
    vin: str
    line: str
    station: str
    reason: str
    since: str


@dataclass
class Counters:
    entered: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    held: set[str] = field(default_factory=set)


@dataclass
class Board:
    routes: dict[str, list[str]] = field(default_factory=dict)
    """Line -> its stations in route order (from the line files, when given)."""
    target_per_day: int = TARGET_PER_DAY
    stale_after_s: float = STALE_AFTER_S
    tiles: dict[str, Tile] = field(default_factory=dict)
    held: dict[str, HeldVehicle] = field(default_factory=dict)
    days: dict[tuple[str, str], Counters] = field(default_factory=dict)
    """(line, UTC day) -> that day's counters."""

    def take(self, line: str, event: Event) -> None:
        tile = self.tiles.get(event.station)
        if tile is None:
            tile = self.tiles[event.station] = Tile(event.station, line)
        tile.line = line
        operation = tile.operation
        tile.take(event)
        self.take_vehicle(line, event, operation)

    def take_vehicle(self, line: str, event: Event, operation: str | None) -> None:
        """The held list and the counters; `operation`: the station's operation when the
        event came (None: unknown, as in the held vehicles' history)."""
        vin = event.vin
        if vin is None:
            return
        counters = self.days.setdefault((line, day_of(event.wall)), Counters())
        kind = event.kind
        if kind == "progress":
            counters.entered.add(vin)
        elif kind == "hold":
            reason = event.data.get("message")
            why = reason if isinstance(reason, str) and reason else event.result or "held"
            self.held[vin] = HeldVehicle(vin, line, event.station, why, event.wall)
            counters.held.add(vin)
        elif kind == "cycle_ended" and event.result == "held":
            if vin not in self.held:
                self.held[vin] = HeldVehicle(vin, line, event.station, "held", event.wall)
            counters.held.add(vin)
        elif kind in ("cycle_ended", "released", "disposition"):
            self.held.pop(vin, None)
            if kind == "released" and event.result == "passed" and operation == EXIT_OPERATION:
                counters.released.add(vin)

    # --- what a page shows ---------------------------------------------------------

    def lines(self) -> list[str]:
        return sorted({*self.routes, *(t.line for t in self.tiles.values())})

    def stations_of(self, line: str) -> list[Tile]:
        """The line's tiles in route order (stations off the route after, by name); every
        line's for the plant."""
        if line == PLANT:
            return [t for name in self.lines() for t in self.stations_of(name)]
        route = self.routes.get(line, [])
        tiles = [self.tiles.get(name) or Tile(name, line) for name in route]
        others = sorted(
            (t for t in self.tiles.values() if t.line == line and t.station not in route),
            key=lambda t: t.station,
        )
        return tiles + others

    def view(self, line: str, now: float) -> dict[str, Any]:
        """The board of `line` (or PLANT) at `now` (epoch seconds): JSON-able."""
        lines = self.lines() if line == PLANT else [line]
        day = today(now)
        counters = [self.days.get((name, day), Counters()) for name in lines]
        held = sorted((h for h in self.held.values() if h.line in lines), key=lambda h: h.since)
        return {
            "line": line,
            "day": day,
            "now": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "tiles": [self._tile_view(t, now) for t in self.stations_of(line)],
            "held": [
                {
                    "vin": h.vin,
                    "line": h.line,
                    "station": h.station,
                    "reason": h.reason,
                    "since": h.since,
                    "age": age_text(now - wall_seconds(h.since)),
                }
                for h in held
            ],
            "counters": {
                "entered": sum(len(c.entered) for c in counters),
                "released": sum(len(c.released) for c in counters),
                "held": sum(len(c.held) for c in counters),
                "target": self.target_of(line),
            },
        }

    def target_of(self, line: str) -> int:
        """The plant's daily target, shared evenly by its lines."""
        if line == PLANT:
            return self.target_per_day
        return round(self.target_per_day / max(1, len(self.lines())))

    def _tile_view(self, tile: Tile, now: float) -> dict[str, Any]:
        silent = None if tile.last_wall is None else now - wall_seconds(tile.last_wall)
        stale = silent is None or silent > self.stale_after_s
        alarms = sorted(tile.alarms.items(), key=lambda item: (item[1][0], item[0]))
        return {
            "station": tile.station,
            "line": tile.line,
            "state": tile.state,
            "state_class": STATE_CLASSES.get(tile.state, "-idle").removeprefix("-"),
            "stale": stale,
            "silent": None if silent is None else age_text(silent),
            "seq": tile.last_seq,
            "vin": tile.vin,
            "model": tile.model,
            "operation": tile.operation,
            "step": tile.step,
            "step_result": tile.step_result,
            "last_result": tile.last_result,
            "alarms": [{"key": k, "priority": p, "text": t} for k, (p, t) in alarms],
        }


def age_text(seconds: float) -> str:
    """`42 s`, `7 min`, `3 h 05`, `2 d 4 h`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
