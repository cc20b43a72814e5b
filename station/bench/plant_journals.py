"""The journals of a whole plant, written as its stations write them, for the plant
benchmarks (`station.bench.plant`): nothing runs, the events are made directly.

- The plant: `lines` copies of configs/lines/line1.yaml (`line-1`, `line-2`...), each
  station of line N named `lN-<station>` (44 stations for 4 lines); each station's cycle
  is the one of its file in configs/stations/ (its steps, outputs, checklist items,
  quantities), so a visit journals what that station journals: `cycle_started`, a
  `step_started`/`step_done` pair a step, `identified` (the tag as read), `progress` and
  `admitted`, `outputs`, `command` and `checklist_item` per item, `measured`, `finding`
  and `verdict` at the gates, `photo_session`, `tag_write` (the progress the route rules
  give, encoded by station/tag.py) and `tag_written`, `released`, `cycle_ended`.
- The vehicles: `station.scenario.generated` (the line's own mix: EVs, bodywork, failed
  gates, some failing until the rework loops run out and held), one in 400 also held for
  an identity mismatch at a station and removed by a supervisor; assigned to the lines in
  turn, 45 a line a working day (Monday to Friday), their journey decided by the route
  rules (`station.route`). Each station takes one vehicle at a time (a vehicle waits
  while it is busy); a cycle lasts `CYCLE_S`, a vehicle waits `STAGE_S` (jittered)
  between operations, so its lead time is about a week, and the rework bay takes it
  `REWORK_WAIT_S` after a failed gate.
- Every day each station journals a break (`state` Suspended, then Execute).
- Every event is chained by the journal's own hash rule (`station.journal.chain_hash`):
  the collector's chain check passes on them.

Deterministic for a seed. `plant(...)` plans every visit (a few hundred bytes a visit);
`Plant.events(station)` makes that station's events on demand, in journal order.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from station.config.loader import load_line, load_station
from station.config.models import (
    IdentifyStep,
    InspectStep,
    LineFile,
    MeasureStep,
    OperatorChecklistStep,
    Quantity,
    ReleaseStep,
    Rework,
    SetOutputsStep,
    StationFile,
    TurntableSweepStep,
    VerifyRouteStep,
    WriteTagStep,
)
from station.journal import GENESIS_HASH, Event, chain_hash
from station.limits import nominal
from station.route import Outcome, Progress, RouteSnapshot, complete, intake, next_operation
from station.scenario_mix import generated
from station.tag import TAG_BYTES, encode

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
LINE_FILE = CONFIGS / "lines" / "line1.yaml"
PER_LINE_A_DAY = 45
CYCLE_S = 300.0
CHANGEOVER_S = 30.0
STAGE_S = 15 * 3600.0
REWORK_WAIT_S = 120.0
BREAK_AT_S, BREAK_S = 12 * 3600.0, 1800.0
ID_HOLD_SHARE = 1 / 400
OPERATORS = 6
BLANK_TAG = bytes(TAG_BYTES).hex()


@dataclass(frozen=True)
class PlantStation:
    name: str
    line: str
    model: StationFile
    config_hash: str
    boot_id: str


@dataclass(frozen=True)
class Visit:
    start: float
    vin: str
    operation: str
    rework: bool
    result: str
    """The cycle's end: passed, failed, rework or held."""
    before: Progress | None
    """The progress on the tag as read (None: a blank tag, at the check-in)."""
    after: Progress | None
    """The progress written (None: a visit held before its tag write)."""
    route: RouteSnapshot


def _renamed(line: LineFile, number: int) -> LineFile:
    """Line 1's route as line `number` of the plant, its stations named `lN-...`."""
    prefix = f"l{number}-"
    route = line.route
    operations = [
        op.model_copy(
            update={"station": prefix + op.station}
            if op.station is not None
            else {"stations": [prefix + name for name in op.served_by]}
        )
        for op in route.operations
    ]
    rework = route.rework.model_copy(update={"station": prefix + route.rework.station})
    new_route = route.model_copy(update={"operations": operations, "rework": rework})
    return line.model_copy(update={"line": f"line-{number}", "route": new_route})


def plant_lines(count: int) -> list[LineFile]:
    """The plant's `count` lines (line 1's route each, stations renamed)."""
    line = load_line(LINE_FILE).model
    return [_renamed(line, number) for number in range(1, count + 1)]


def _station_files(line: LineFile) -> dict[str, StationFile]:
    """configs/stations/*.yaml of line 1, by station name."""
    files = {}
    for path in sorted((CONFIGS / "stations").glob("*.yaml")):
        loaded = load_station(path)
        if loaded.line.model.line == line.line:
            files[loaded.model.station] = loaded.model
    return files


def _working_days(start: float) -> Iterator[float]:
    """Midnight (UTC) of every weekday from `start`'s day on."""
    day = datetime.fromtimestamp(start, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while True:
        if day.weekday() < 5:
            yield day.timestamp()
        day += timedelta(days=1)


@dataclass(order=True)
class _Journey:
    ready: float
    order: int
    vin: str = field(compare=False)
    route: RouteSnapshot = field(compare=False)
    progress: Progress = field(compare=False)
    verdicts: dict[str, list[str]] = field(compare=False)
    id_hold_at: str | None = field(compare=False)
    started: bool = field(default=False, compare=False)


@dataclass
class Plant:
    """Every station of the plant and its planned visits, in time order."""

    lines: list[LineFile]
    stations: dict[str, PlantStation]
    visits: dict[str, list[Visit]]
    start: float
    end: float
    seed: int

    @property
    def vins(self) -> list[str]:
        return sorted({v.vin for visits in self.visits.values() for v in visits})

    def events(self, station: str) -> Iterator[Event]:
        """The station's journal, from seq 1, in journal order."""
        return _Writer(self.stations[station], self.seed).journal(
            self.visits[station], self.start, self.end
        )


def plant(vehicles: int, lines: int = 4, *, start: float, seed: int = 1) -> Plant:
    """Plan `vehicles` vehicles over `lines` lines from `start` (seconds since the epoch)."""
    models = plant_lines(lines)
    files = _station_files(load_line(LINE_FILE).model)
    rng = random.Random(seed)
    stations: dict[str, PlantStation] = {}
    for number, model in enumerate(models, start=1):
        for name, station in files.items():
            renamed = f"l{number}-{name}"
            stations[renamed] = PlantStation(
                renamed,
                model.line,
                station,
                f"sha256:{rng.getrandbits(256):064x}",
                str(uuid.UUID(int=rng.getrandbits(128))),
            )
    mix = generated(vehicles, seed).vehicles
    journeys: list[_Journey] = []
    days = _working_days(start)
    day = next(days)
    takt = 86400.0 / PER_LINE_A_DAY
    for index, vehicle in enumerate(mix):
        line_index, order = index % lines, index // lines
        if order and order % PER_LINE_A_DAY == 0 and line_index == 0:
            day = next(days)
        route = RouteSnapshot.from_line(models[line_index])
        attributes = {"ev": vehicle.ev, **vehicle.attributes}
        arrival = day + (order % PER_LINE_A_DAY) * takt + rng.uniform(0, takt / 4)
        held = rng.random() < ID_HOLD_SHARE
        journeys.append(
            _Journey(
                arrival,
                index,
                vehicle.vin,
                route,
                intake(route, vehicle.vin, attributes),
                {gate: list(verdicts) for gate, verdicts in vehicle.verdicts.items()},
                rng.choice(route.operations[1:]).operation if held else None,
            )
        )
    visits = _travel(journeys, rng)
    end = max((v.start for vs in visits.values() for v in vs), default=start) + CYCLE_S
    return Plant(models, stations, {s: visits.get(s, []) for s in stations}, start, end, seed)


def _travel(journeys: list[_Journey], rng: random.Random) -> dict[str, list[Visit]]:
    """Every journey through the route rules, in time order: each station takes the
    vehicle that has waited longest once it is free."""
    heapq.heapify(journeys)
    free: dict[str, float] = {}
    visits: dict[str, list[Visit]] = {}
    while journeys:
        journey = heapq.heappop(journeys)
        route, before = journey.route, journey.progress
        target = next_operation(route, before)
        if target is None or before.on_hold is not None:
            continue
        station = target.served_by[0]
        begin = max(journey.ready, free.get(station, 0.0))
        free[station] = begin + CYCLE_S + CHANGEOVER_S
        rework = isinstance(target, Rework)
        if journey.id_hold_at == target.operation:
            result, after = "held", None
        else:
            verdicts = journey.verdicts.get(target.operation) or ["pass"]
            outcome: Outcome = "failed" if verdicts.pop(0) == "fail" else "passed"
            after = complete(route, before, target.operation, outcome).next_write()
            result = "rework" if rework else outcome
        visits.setdefault(station, []).append(
            Visit(
                begin,
                journey.vin,
                target.operation,
                rework,
                result,
                before if journey.started else None,
                after,
                route,
            )
        )
        if after is None:
            continue
        journey.started, journey.progress = True, after
        wait = REWORK_WAIT_S if after.failed_gate or rework else STAGE_S * rng.uniform(0.7, 1.3)
        journey.ready = begin + CYCLE_S + wait
        heapq.heappush(journeys, journey)
    return visits


Entry = tuple[str, str | None, str | None, str | None, str | None, dict[str, Any]]
"""kind, vin, step, result, operator, data: an event before its place in the chain."""


def _measured(quantities: dict[str, Quantity], fail: bool) -> list[dict[str, Any]]:
    values = []
    for index, (name, quantity) in enumerate(quantities.items()):
        value = nominal(quantity)
        bad = fail and index == 0
        if bad:
            value = quantity.physical_min if quantity.low is not None else quantity.physical_max
        values.append(
            {
                "decimals": quantity.decimals,
                "high": quantity.high,
                "high_inclusive": quantity.high_inclusive,
                "low": quantity.low,
                "low_inclusive": quantity.low_inclusive,
                "name": name,
                "ok": not bad,
                "unit": quantity.unit,
                "value": value,
            }
        )
    return values


class _Writer:
    """One station's journal: its visits' events, chained."""

    def __init__(self, station: PlantStation, seed: int) -> None:
        self.station = station
        self.rng = random.Random(f"{seed}:{station.name}")
        self.seq = 0
        self.prev = GENESIS_HASH
        self.cycle = 0
        self.people = [f"{station.name[:3]}op{n}" for n in range(OPERATORS)]

    def _event(self, at: float, entry: Entry) -> Event:
        kind, vin, step, result, operator, data = entry
        self.seq += 1
        values: dict[str, Any] = {
            "seq": self.seq,
            "station": self.station.name,
            "kind": kind,
            "vin": vin,
            "step": step,
            "result": result,
            "operator": operator,
            "config_hash": self.station.config_hash,
            "mono_ns": int(at * 1e9) % (1 << 62),
            "boot_id": self.station.boot_id,
            "wall": datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds"),
            "data": data,
            "prev_hash": self.prev,
        }
        self.prev = chain_hash(values)
        return Event(**values, hash=self.prev)

    def journal(self, visits: list[Visit], start: float, end: float) -> Iterator[Event]:
        label = visits[0].route.label if visits else ""
        opening: list[Entry] = [
            ("station_started", None, None, None, None, {"config": "", "route": label}),
        ]
        for state, before in (("Resetting", "Stopped"), ("Idle", "Resetting"),
                              ("Starting", "Idle"), ("Execute", "Starting")):  # fmt: skip
            opening.append(("state", None, None, state, None, {"from": before}))
        for index, entry in enumerate(opening):
            yield self._event(start + index * 0.01, entry)
        breaks = self._breaks(start, end)
        free = start + 1.0
        for visit in visits:
            for at, entry in breaks:
                if at > visit.start:
                    break
                yield self._event(max(at, free), entry)
                free = max(at, free) + 0.01
            breaks = [(at, e) for at, e in breaks if at > visit.start]
            entries = self._visit(visit)
            at = max(visit.start, free)
            pace = CYCLE_S / len(entries)
            for index, entry in enumerate(entries):
                yield self._event(at + index * pace, entry)
            free = at + CYCLE_S
        for at, entry in breaks:
            yield self._event(max(at, free), entry)
            free = max(at, free) + 0.01

    def _breaks(self, start: float, end: float) -> list[tuple[float, Entry]]:
        breaks = []
        day = start - start % 86400.0
        while day < end:
            pause = {"from": "Execute", "reason": "break", "trigger": "suspend"}
            back = {"from": "Suspended", "reason": "break over", "trigger": "unsuspend"}
            breaks.append((day + BREAK_AT_S, ("state", None, None, "Suspended", None, pause)))
            breaks.append(
                (day + BREAK_AT_S + BREAK_S, ("state", None, None, "Execute", None, back))
            )
            day += 86400.0
        return [b for b in breaks if start < b[0] < end]

    def _visit(self, visit: Visit) -> list[Entry]:
        self.cycle += 1
        vin, model = visit.vin, self.station.model
        operator = self.rng.choice(self.people)
        out: list[Entry] = [("cycle_started", None, None, None, None, {"cycle": self.cycle})]
        known: str | None = None  # the VIN, once identified
        for index, step in enumerate(model.cycle):
            name = f"{index}:{step.step}"
            out.append(("step_started", known, name, None, None, {}))
            if visit.result == "held" and isinstance(step, VerifyRouteStep):
                out += self._held(vin, name, visit)
                break
            out += self._step(step, name, visit, operator)
            known = vin if isinstance(step, IdentifyStep) else known
            out.append(("step_done", known, name, "ok", None, {}))
        out.append(("cycle_ended", vin, None, visit.result, None, {}))
        return out

    def _held(self, vin: str, name: str, visit: Visit) -> list[Entry]:
        found = f"{vin[:-4]}{(int(vin[-4:], 36) + 1) % 10000:04d}"
        message = f"id mismatch: the label reads {vin}, the tag {found}"
        supervisor = f"{self.station.name[:3]}sup"
        action = {"action": "remove", "reason": "tag swapped, vehicle back to reception"}
        command = {"detail": "remove", "role": "supervisor"}
        return [
            ("hold", vin, name, "id_mismatch", None, {"message": message, "found": found}),
            ("command", None, None, "dispose", supervisor, command),
            ("disposition", vin, name, None, supervisor, action),
        ]

    def _step(self, step: Any, name: str, visit: Visit, operator: str) -> list[Entry]:
        vin, failed = visit.vin, visit.result == "failed"
        if isinstance(step, IdentifyStep):
            read = BLANK_TAG if visit.before is None else encode(visit.before, visit.route).hex()
            sources = "+".join(s for s in ("barcode", "rfid") if getattr(step, s))
            return [("identified", vin, name, sources, None, {"model": "", "tag": read})]
        if isinstance(step, VerifyRouteStep):
            out: list[Entry] = []
            if visit.before is None and visit.after is not None:
                first = dataclasses.replace(visit.after, done=(), gates_passed=(), seq=0)
                out.append(
                    ("progress", vin, name, None, None, {"tag": encode(first, visit.route).hex()})
                )
            admitted = {"operation": visit.operation, "rework": visit.rework}
            return [*out, ("admitted", vin, name, None, None, admitted)]
        if isinstance(step, SetOutputsStep):
            return [("outputs", vin, name, None, None, dict(step.outputs))]
        if isinstance(step, OperatorChecklistStep):
            out = []
            for item, text in enumerate(step.items):
                confirm = {"detail": "done", "role": step.role}
                out.append(("command", None, None, "confirm", operator, confirm))
                done = {"index": item, "text": text}
                out.append(("checklist_item", vin, name, "done", operator, done))
            return out
        if isinstance(step, MeasureStep):
            values = _measured(step.quantities, failed)
            source = {"source": "typed", "values": values}
            return [("measured", vin, name, "fail" if failed else "pass", operator, source)]
        if isinstance(step, InspectStep):
            return self._inspect(step, name, visit, operator)
        if isinstance(step, TurntableSweepStep):
            angles = [
                round(i * step.step_deg + self.rng.uniform(2, 3), 1) for i in range(step.steps)
            ]
            shots = {"angles": angles, "expected": step.steps, "fault": None, "shots": step.steps}
            return [("photo_session", vin, name, "complete", None, shots)]
        if isinstance(step, WriteTagStep) and visit.after is not None:
            written = {"seq": visit.after.seq, "tag": encode(visit.after, visit.route).hex()}
            return [
                ("tag_write", vin, None, None, None, written),
                ("tag_written", vin, name, "verified", None, {}),
            ]
        if isinstance(step, ReleaseStep):
            result = "failed" if failed else "passed"
            return [
                ("outputs", vin, name, None, None, dict(step.outputs)),
                ("released", vin, name, result, None, {}),
                ("outputs", vin, name, None, None, dict.fromkeys(step.outputs, 0)),
            ]
        return []

    def _inspect(self, step: InspectStep, name: str, visit: Visit, operator: str) -> list[Entry]:
        vin, failed = visit.vin, visit.result == "failed"
        verdict = "fail" if failed else "pass"
        who, source = ("inspection", "device:inspection") if step.device else (operator, "typed")
        out: list[Entry] = []
        if step.quantities:
            values = {"source": source, "values": _measured(step.quantities, failed)}
            out.append(("measured", vin, name, verdict, who, values))
        findings = [{"code": "1.1.13", "severity": "major", "text": "brake imbalance"}]
        found = {"complete": True, "fail_on": list(step.fail_on), "source": source,
                 "findings": findings if failed else []}  # fmt: skip
        if step.device is None:
            out.append(
                ("command", None, None, "finding", who, {"detail": "none", "role": "inspector"})
            )
        out.append(("finding", vin, name, verdict, who, found))
        if step.device is None:
            out.append(
                ("command", None, None, "verdict", who, {"detail": verdict, "role": "inspector"})
            )
        out.append(("verdict", vin, name, verdict, who, {}))
        return out


def events_of(plant_: Plant) -> Iterator[tuple[str, Iterator[Event]]]:
    """(station, its journal) for every station of the plant, by name."""
    for name in sorted(plant_.stations):
        yield name, plant_.events(name)
