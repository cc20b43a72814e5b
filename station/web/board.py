"""The andon board's live model: the stored events folded into one tile per station,
the vehicles on the line (held, queued, in WIP) and today's counters per line
(docs/architecture.md section 7a).

Pure: `Board.take(line, event)` folds one stored event (in each station's seq order) into
its station's tile and the vehicles; `Board.view(...)` is what a page shows at a moment.
The web view (`station.web.live`) feeds it from the plant database, and the stations'
Sparkplug state (`station.web.nodes.Nodes`) from the broker, never the other way round.

What a tile shows, from the station's newest events:
- `state`: the PackML state (the `state` event's result), in the console's colour class
  (`station.console.widgets.state_banner.STATE_CLASSES`) and as text;
- the vehicle in the station (from `identified`, `admitted` or a step's VIN after a
  `cycle_started`; gone with `released`), its model and operation;
- the last step (`step_started`: running; `step_done`: its result; `hold`: held), and
  the step's progress from the station's Sparkplug state;
- a label read the station refused as a VIN (`vin_rejected`), and the vehicle identified
  after it, until another vehicle is identified there;
- active alarms (`alarm_raised` until `alarm_cleared`), highest priority (lowest
  number) first;
- blocked (the vehicle cannot leave) and starved (running, no vehicle), and each device
  link up or down: the station's Sparkplug metrics (`PackML/Blocked`, `PackML/Starved`,
  `Links/<device>`); without them starved is Execute with no vehicle;
- the queue before the station: the vehicles released elsewhere whose tag (the last
  `tag_write`) sends them here next, not yet identified here (travelling or waiting:
  the conveyor journals nothing);
- STALE: the station's Sparkplug node is dead (NDEATH, until its next NBIRTH), or no
  data from the station (no event stored, no Sparkplug message) for `stale_after_s`
  (the station may be down, its link lost, or the collector behind).

Vehicles (their line: the line of their intake): entered with their intake `progress`
event; held by a `hold` event (reason: its message, else its result) or a cycle ended
`held`, until released, admitted again or let go on by a supervisor (a vehicle removed
from the line stays in the held list, as `station plant report` counts it held);
released to sale when `released` passed at the line's exit operation; WIP: entered,
neither released nor held nor disposed of. Today's counters (the UTC day of the events'
wall time): entered, released, held, against the daily target (the line file's, else
the plant's shared evenly by its lines), the WIP now and the median lead time (intake
to release) of today's released vehicles.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from station import route as rules
from station import tag as tags
from station.console.widgets.state_banner import STATE_CLASSES
from station.journal import Event
from station.plant.passport import EXIT_OPERATION
from station.plant.report_rows import seconds
from station.web.nodes import Nodes

TARGET_PER_DAY = 180
STALE_AFTER_S = 60.0
PLANT = "plant"
"""The board of every line at once (`/lines/plant`)."""
NO_STATE = "no state yet"
SHOWN_READ = 64
"""Characters of a refused label read shown on a tile."""


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
    refused_read: str | None = None
    refused_vin: str | None = None
    """The vehicle identified after `refused_read` (its label read)."""
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
        elif kind == "vin_rejected":
            code = data.get("code")
            self.refused_read = code[:SHOWN_READ] if isinstance(code, str) else None
            self.refused_vin = None
        elif kind == "identified":
            if self.refused_vin is None and self.refused_read is not None:
                self.refused_vin = event.vin  # the vehicle whose label it was
            elif self.refused_vin != event.vin:
                self.refused_read = self.refused_vin = None
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
class Vehicle:
    line: str
    entered: str | None = None
    """Wall time of its intake."""
    released: str | None = None
    disposed: bool = False
    next_station: str | None = None
    """Where its last tag write sends it (once released from that station)."""
    heading: str | None = None
    """The station whose queue it is in (released, not identified there yet)."""
    queued: int = 0
    """Its place in that queue (the board's count of releases when it joined)."""


@dataclass
class Counters:
    entered: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    held: set[str] = field(default_factory=set)


VEHICLE_KINDS = (
    "progress",
    "identified",
    "admitted",
    "tag_write",
    "hold",
    "cycle_ended",
    "released",
    "disposition",
)
"""The kinds `Board.take_vehicle` reads (the web view's history at start)."""


@dataclass
class Board:
    routes: dict[str, list[str]] = field(default_factory=dict)
    """Line -> its stations in route order, rework bay last (from the line files)."""
    snapshots: dict[str, rules.RouteSnapshot] = field(default_factory=dict)
    """Line -> its route (a vehicle's next station, from its tag)."""
    targets: dict[str, int] = field(default_factory=dict)
    """Line -> its line file's target a day."""
    exits: dict[str, str] = field(default_factory=dict)
    """Line -> its exit operation (default `exit`)."""
    target_per_day: int = TARGET_PER_DAY
    stale_after_s: float = STALE_AFTER_S
    nodes: Nodes = field(default_factory=Nodes)
    tiles: dict[str, Tile] = field(default_factory=dict)
    held: dict[str, HeldVehicle] = field(default_factory=dict)
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    operations: dict[str, str] = field(default_factory=dict)
    """Station -> the operation of its last admission."""
    days: dict[tuple[str, str], Counters] = field(default_factory=dict)
    """(line, UTC day) -> that day's counters."""
    joined: int = 0

    def take(self, line: str, event: Event) -> None:
        self.take_tile(line, event)
        self.take_vehicle(line, event)

    def take_tile(self, line: str, event: Event) -> None:
        tile = self.tiles.get(event.station)
        if tile is None:
            tile = self.tiles[event.station] = Tile(event.station, line)
        tile.line = line
        tile.take(event)

    def take_vehicle(self, line: str, event: Event) -> None:
        """The vehicles, the held list and the counters (events of VEHICLE_KINDS)."""
        vin, kind = event.vin, event.kind
        if kind == "admitted":
            operation = event.data.get("operation")
            if isinstance(operation, str):
                self.operations[event.station] = operation
        if vin is None or kind not in VEHICLE_KINDS:
            return
        vehicle = self.vehicles.get(vin)
        if vehicle is None:
            vehicle = self.vehicles[vin] = Vehicle(line)
        counters = self.days.setdefault((vehicle.line, day_of(event.wall)), Counters())
        if kind == "progress" and vehicle.entered is None:
            vehicle.entered = event.wall
            counters.entered.add(vin)
        elif kind in ("identified", "admitted"):
            vehicle.heading = None
            if kind == "admitted":
                self.held.pop(vin, None)
        elif kind == "tag_write":
            vehicle.next_station = self._next_station(vehicle.line, event.data.get("tag"))
        elif kind == "hold":
            reason = event.data.get("message")
            why = reason if isinstance(reason, str) and reason else event.result or "held"
            self.held[vin] = HeldVehicle(vin, vehicle.line, event.station, why, event.wall)
            counters.held.add(vin)
        elif kind == "cycle_ended" and event.result == "held":
            if vin not in self.held:
                self.held[vin] = HeldVehicle(vin, vehicle.line, event.station, "held", event.wall)
            counters.held.add(vin)
        elif kind == "released":
            self.held.pop(vin, None)
            exit_operation = self.exits.get(vehicle.line, EXIT_OPERATION)
            if event.result == "passed" and self.operations.get(event.station) == exit_operation:
                vehicle.released = event.wall
                vehicle.heading = None
                counters.released.add(vin)
            else:
                self.joined += 1
                vehicle.heading, vehicle.queued = vehicle.next_station, self.joined
        elif kind == "disposition":
            vehicle.heading = None
            if event.data.get("action") == "remove":
                vehicle.disposed = True  # off the line, still held: a supervisor decides
            else:
                self.held.pop(vin, None)

    def _next_station(self, line: str, content: object) -> str | None:
        route = self.snapshots.get(line)
        if route is None or not isinstance(content, str):
            return None
        try:
            progress = tags.decode(bytes.fromhex(content), route)
        except (ValueError, tags.TagError):
            return None
        target = rules.next_operation(route, progress)
        return None if target is None or progress.on_hold is not None else target.station

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
        on_line = [(vin, v) for vin, v in self.vehicles.items() if v.line in lines]
        queues: dict[str, list[str]] = {}
        for vin, vehicle in sorted(on_line, key=lambda item: item[1].queued):
            if vehicle.heading is not None:
                queues.setdefault(vehicle.heading, []).append(vin)
        wip = [
            v
            for vin, v in on_line
            if v.entered and not v.released and not v.disposed and vin not in self.held
        ]
        leads = [
            seconds(v.released) - seconds(v.entered)
            for _, v in on_line
            if v.released and v.entered and day_of(v.released) == day
        ]
        return {
            "line": line,
            "day": day,
            "now": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "tiles": [self._tile_view(t, now, queues) for t in self.stations_of(line)],
            "held": [
                {
                    "vin": h.vin,
                    "line": h.line,
                    "station": h.station,
                    "reason": h.reason,
                    "since": h.since,
                    "age": age_text(now - seconds(h.since)),
                }
                for h in held
            ],
            "counters": {
                "entered": sum(len(c.entered) for c in counters),
                "released": sum(len(c.released) for c in counters),
                "held": sum(len(c.held) for c in counters),
                "target": self.target_of(line),
                "wip": len(wip),
                "lead_time": age_text(statistics.median(leads)) if leads else None,
            },
        }

    def target_of(self, line: str) -> int:
        """A line's target a day: its line file's, else the plant's shared evenly."""
        if line == PLANT:
            return self.target_per_day
        if line in self.targets:
            return self.targets[line]
        return round(self.target_per_day / max(1, len(self.lines())))

    def _tile_view(self, tile: Tile, now: float, queues: dict[str, list[str]]) -> dict[str, Any]:
        node = self.nodes.get(tile.station)
        heard = [seconds(tile.last_wall)] if tile.last_wall is not None else []
        heard += [node.seen] if node is not None else []
        silent = now - max(heard) if heard else None
        dead = node is not None and node.born and not node.alive
        stale = dead or silent is None or silent > self.stale_after_s
        alarms = sorted(tile.alarms.items(), key=lambda item: (item[1][0], item[0]))
        running = tile.state == "Execute"
        starved = node.flag("PackML/Starved") if node is not None else None
        rework = self.routes.get(tile.line, [])[-1:] == [tile.station]
        return {
            "station": tile.station,
            "line": tile.line,
            "state": tile.state,
            "state_class": STATE_CLASSES.get(tile.state, "-idle").removeprefix("-"),
            "stale": stale,
            "dead": dead,
            "silent": None if silent is None else age_text(silent),
            "seq": tile.last_seq,
            "vin": tile.vin,
            "model": tile.model,
            "operation": tile.operation,
            "step": tile.step,
            "step_result": tile.step_result,
            "progress": node.progress() if node is not None and tile.vin else None,
            "last_result": tile.last_result,
            "refused_read": tile.refused_read,
            "refused_vin": tile.refused_vin,
            "blocked": bool(node is not None and node.flag("PackML/Blocked")),
            "starved": starved if starved is not None else running and tile.vin is None,
            "links": node.links() if node is not None else {},
            "queue": queues.get(tile.station, []),
            "rework": rework,
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
