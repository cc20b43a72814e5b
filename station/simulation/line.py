"""A whole line on one machine: every station of a line, each a real station
runtime over its own simulated devices, and a conveyor moving the vehicles of
a scenario from one to the next (`station line --simulate`).

The stations are those of the station files in the line file's
`../stations/` folder whose `line:` is this line file; every station the
route names (and the rework bay) must have exactly one. Each gets its own
simulators (`SimulatedDevices`, real protocols on loopback), its own journal
(`RUN/<station>/journal.sqlite3`) and its own people; one `TagStore` is
shared by all (`RUN/sim-tags.json`): the hang tag travels with its vehicle,
so what one station writes the next one reads, and nothing else carries a
vehicle's progress from station to station.

The conveyor, in the world's terms only (the PLC simulators' arrivals and
departures, the readers' fields, the tags):
- vehicles enter at the check-in station in the scenario's order, every
  `takt_s` or as soon as it is free, and queue FIFO at each station;
- a vehicle that leaves a station travels (`TRAVEL_S`, scaled) to the
  station of its next operation, which the route rules give from the
  progress on its tag; a misroute of the scenario presents it instead at the
  misroute's station once it has done the named operation;
- its journey ends `held` when its cycle ended held (a supervisor removed
  it) or when its tag says it waits for a supervisor (rework loops used up),
  `released` when its tag says every due operation is done (after the
  check-out). A run where nothing moves for `stall_s` ends, and the vehicles
  still on the line are `stranded` (the run then fails);
- a vehicle's faults for a station strike at its first visit there; the
  verdicts of a gate are consumed in order over its visits.

What the scenario expects (`expected_final`) comes from the route rules over
the scenario alone: verdicts, misroutes, and the identity faults that make a
supervisor remove a vehicle. The conservation check (`conservation`), run
by the command on every run: every vehicle that entered is released or held;
every journey replays through the route rules (each admission and refusal
as the stations decided, each outcome a transition the rules allow) to the
progress on the vehicle's tag; the cycles per station, per vehicle and per
result match each station's journal; every journal verifies.

Boundary: the stations are driven only through the simulated world and the
people's public commands; the line reads their journals, their tags and their
status, never their internals. The JSON document is CLI.md's contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import structlog
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from station import route as rules
from station import tag as tagfmt
from station.config.loader import ConfigError, LoadedLine, LoadedStation, load_line, load_station
from station.config.models import IdentifyStep, Operation
from station.journal import Event, Journal, JournalReader
from station.runtime import Station
from station.scenario import Misroute, Scenario, ScenarioVehicle, generated
from station.simulation.devices import PersistentTagStore, SimulatedDevices
from station.simulation.floor import StationFloor, tag_uid
from station.simulation.people import ScenarioOrders, Verdicts
from station.state_dir import journal_path
from station.vin import VinError, parse_vin

log = structlog.get_logger("line")

TRAVEL_S = 20.0
"""Physical time a vehicle takes from one station to the next (scaled by the run)."""
STALL_S = 300.0
"""Physical time without any vehicle moving after which a run is stalled (scaled) ..."""
STALL_MIN_S = 30.0
"""... but never less than this many real seconds."""
TAGS_FILE = "sim-tags.json"
IDENTITY_HOLDS = frozenset({"label_mismatch", "rfid_notag", "rfid_multi"})
"""Faults after which a supervisor removes the vehicle (identity not established)."""

Final = Literal["released", "held", "stranded"]
_OUTCOMES: dict[str, rules.Outcome] = {"passed": "passed", "failed": "failed", "rework": "rework"}


class LineInputError(Exception):
    """The line or the scenario cannot be run; each problem names where and what."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# --- the line's stations -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LineLayout:
    """A line file, its route and its station files (route order, rework bay last)."""

    line: LoadedLine
    route: rules.RouteSnapshot
    stations: dict[str, LoadedStation]

    @classmethod
    def load(cls, line_path: Path) -> LineLayout:
        """The line and the station files of its `../stations/` folder that name it.
        ConfigError for an invalid file, LineInputError for a station missing or twice."""
        line = load_line(line_path)
        route = rules.RouteSnapshot.from_line(line.model)
        folder = (line_path.parent / ".." / "stations").resolve()
        found: dict[str, list[LoadedStation]] = {}
        issues = []
        for path in _station_files(folder, line_path.resolve()):
            try:
                loaded = load_station(path)
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            found.setdefault(loaded.model.station, []).append(loaded)
        if issues:
            raise ConfigError(issues)
        wanted = [*dict.fromkeys(op.station for op in route.operations), route.rework.station]
        problems = [
            f"{line_path}: no station file in {folder} for station {name!r} "
            f"(a file with `station: {name}` and `line:` pointing at this line file)"
            for name in wanted
            if name not in found
        ]
        problems += [
            f"{line_path}: station {name!r} has {len(files)} station files: "
            + ", ".join(str(f.path) for f in files)
            for name, files in found.items()
            if len(files) > 1
        ]
        if problems:
            raise LineInputError(problems)
        return cls(line, route, {name: found[name][0] for name in wanted})

    @property
    def name(self) -> str:
        return self.line.model.line

    @property
    def checkin(self) -> str:
        """The station of the route's first operation."""
        return self.route.operations[0].station

    def generated(self, count: int, seed: int) -> Scenario:
        """A generated mix of `count` vehicles for this line (`station.scenario.generated`):
        its gates fail now and then, labels go unread at its check-in."""
        gates = [op.operation for op in self.route.operations if op.gate]
        return generated(count, seed, gates=gates, noread_station=self.checkin)

    def operation_of(self, station: str) -> str:
        return self.stations[station].model.operation

    def step_of(self, operation: str) -> int | None:
        """The route step of an operation (None for the rework bay)."""
        target = self.route.find(operation)
        return target.step if isinstance(target, Operation) else None


def _station_files(folder: Path, line_path: Path) -> list[Path]:
    """Station files in `folder` whose `line:` resolves to `line_path`; a file that is
    not YAML is kept, so that loading it reports its error."""
    yaml = YAML(typ="safe")
    chosen = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.load(path)
        except YAMLError:
            chosen.append(path)
            continue
        if not isinstance(data, dict) or data.get("kind") != "station":
            continue
        if (path.parent / str(data.get("line", ""))).resolve() == line_path:
            chosen.append(path)
    return chosen


def check_scenario(layout: LineLayout, scenario: Scenario, source: str) -> list[str]:
    """What in the scenario the line cannot run, each naming `source` and the path."""
    problems = []
    route = layout.route
    gates = {op.operation for op in route.operations if op.gate}
    operations = set(route.names())
    seen: dict[str, int] = {}
    for index, vehicle in enumerate(scenario.vehicles):
        where = f"{source}: vehicles[{index}]"
        if vehicle.vin in seen:
            problems.append(f"{where}.vin: {vehicle.vin} is also vehicles[{seen[vehicle.vin]}]")
        seen.setdefault(vehicle.vin, index)
        try:
            parse_vin(vehicle.vin)
        except VinError as exc:
            problems.append(f"{where}.vin: {exc}")
        try:
            rules.check_attributes(route, vehicle.true_attributes())
        except rules.RouteError as exc:
            problems.append(f"{where}.attributes: {exc}")
        for gate in vehicle.verdicts:
            if gate not in gates:
                problems.append(
                    f"{where}.verdicts.{gate}: not a gate of line {layout.name} "
                    f"(gates: {', '.join(sorted(gates))})"
                )
        for number, fault in enumerate(vehicle.faults):
            if fault.station not in layout.stations:
                problems.append(
                    f"{where}.faults[{number}].station: no station {fault.station!r} on line "
                    f"{layout.name} (stations: {', '.join(layout.stations)})"
                )
    misrouted: set[str] = set()
    for index, misroute in enumerate(scenario.misroutes):
        where = f"{source}: misroutes[{index}]"
        if misroute.vin not in seen:
            problems.append(f"{where}.vin: {misroute.vin} is not a vehicle of the scenario")
        if misroute.vin in misrouted:
            problems.append(f"{where}.vin: {misroute.vin} is misrouted twice (one per vehicle)")
        misrouted.add(misroute.vin)
        if misroute.station not in layout.stations:
            problems.append(
                f"{where}.station: no station {misroute.station!r} on line {layout.name} "
                f"(stations: {', '.join(layout.stations)})"
            )
        if misroute.after not in operations:
            problems.append(
                f"{where}.after: no operation {misroute.after!r} on the route of line "
                f"{layout.name} (operations: {', '.join(route.names())})"
            )
    return problems


# --- what the scenario expects ----------------------------------------------------------------


def expected_final(
    layout: LineLayout, vehicle: ScenarioVehicle, misroute: Misroute | None
) -> Literal["released", "held"]:
    """Where the route rules take this vehicle, given its verdicts, its misroute and
    its identity faults: held for a supervisor, or released."""
    route = layout.route
    progress = rules.intake(route, vehicle.vin, vehicle.true_attributes())
    verdicts = {gate: deque(list_) for gate, list_ in vehicle.verdicts.items()}
    visited: set[str] = set()
    while True:
        if misroute is not None and misroute.after in progress.done:
            wrong = layout.operation_of(misroute.station)
            if isinstance(rules.admit(route, progress, wrong), rules.Violation):
                return "held"
            misroute = None  # presented where it was due anyway
        target = rules.next_operation(route, progress)
        if target is None:
            return "released"
        station = target.station
        if station not in visited and _identity_held(layout, vehicle, station):
            return "held"
        visited.add(station)
        failed = False
        if isinstance(target, Operation) and target.gate and verdicts.get(target.operation):
            failed = verdicts[target.operation].popleft() == "fail"
        progress = rules.complete(
            route, progress, target.operation, "failed" if failed else "passed"
        )
        if progress.on_hold is not None:
            return "held"


def _identity_held(layout: LineLayout, vehicle: ScenarioVehicle, station: str) -> bool:
    """Whether the vehicle's faults at this station leave it unidentified: a swapped
    label or a tag fault; or a final no-read where no tag names it (none at this
    station, or still blank at the check-in) and nobody types the VIN."""
    faults = [f for f in vehicle.faults if f.station == station]
    if any(f.kind in IDENTITY_HOLDS for f in faults):
        return True
    identify = next(
        (s for s in layout.stations[station].model.cycle if isinstance(s, IdentifyStep)), None
    )
    if identify is None or identify.barcode is None:
        return False
    unread = any(f.kind == "barcode_noread" and f.count >= identify.attempts for f in faults)
    untagged = identify.rfid is None or station == layout.checkin
    typed = vehicle.manual_vin and identify.manual_entry
    return unread and untagged and not typed


# --- records -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Stop:
    """One station on a vehicle's journey (times in seconds from the line's start)."""

    station: str
    operation: str
    step: int | None
    result: str
    """The station's cycle result: passed, failed, rework or held."""
    t_in: float
    t_out: float


@dataclasses.dataclass
class VehicleRecord:
    """One vehicle of the run: what was expected, where it went, how it ended."""

    vin: str
    expected: Literal["released", "held"]
    final: Final | None = None
    journey: list[Stop] = dataclasses.field(default_factory=list)
    note: str = ""
    """Why a vehicle was stranded."""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "vin": self.vin,
            "final": self.final,
            "expected": self.expected,
            "journey": [dataclasses.asdict(stop) for stop in self.journey],
        }
        if self.note:
            document["note"] = self.note
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> VehicleRecord:
        return cls(
            vin=document["vin"],
            expected=document["expected"],
            final=document["final"],
            journey=[Stop(**stop) for stop in document["journey"]],
            note=document.get("note", ""),
        )


@dataclasses.dataclass(frozen=True)
class StationSummary:
    station: str
    operation: str
    cycles: int
    state: str
    counts: dict[str, int]


@dataclasses.dataclass
class LineResult:
    """A finished run: the document of CLI.md, with the check's findings."""

    line: str
    vehicles: list[VehicleRecord]
    violations: list[dict[str, Any]]
    stations: list[StationSummary]
    wall_s: float
    cpu_s: float
    startup_s: float
    problems: list[str]
    """The conservation check's findings (empty: it passed)."""
    run_dir: Path

    @property
    def unexpected(self) -> list[VehicleRecord]:
        """Vehicles that did not end as the scenario expects."""
        return [v for v in self.vehicles if v.final != v.expected]

    @property
    def exit_code(self) -> int:
        """0 when every vehicle ended as expected and the check passed, else 1."""
        return 0 if not self.unexpected and not self.problems else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "vehicles": [v.to_json() for v in self.vehicles],
            "violations": self.violations,
            "stations": [dataclasses.asdict(s) for s in self.stations],
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "startup_s": self.startup_s,
            "released": sum(v.final == "released" for v in self.vehicles),
            "held": sum(v.final == "held" for v in self.vehicles),
            "unexpected": [v.vin for v in self.unexpected],
            "conservation": {"ok": not self.problems, "problems": self.problems},
            "run_dir": str(self.run_dir),
        }


# --- the conservation check ------------------------------------------------------------------


JournalView = Journal | JournalReader
"""What the check reads: the journals of the run (open) or of a finished one."""


def conservation(
    layout: LineLayout,
    scenario: Scenario,
    vehicles: Sequence[VehicleRecord],
    stations: Sequence[StationSummary],
    journals: Mapping[str, JournalView],
    tags: Mapping[str, bytes],
) -> list[str]:
    """Every way the run's records break conservation (empty: none); see the module
    docstring. `tags` holds each vehicle's tag memory at the end, by VIN."""
    problems: list[str] = []
    records = {record.vin: record for record in vehicles}
    for vehicle in scenario.vehicles:
        record = records.get(vehicle.vin)
        if record is None or not record.journey:
            problems.append(f"{vehicle.vin}: never entered the line")
            continue
        if record.final not in ("released", "held"):
            problems.append(f"{vehicle.vin}: ended {record.final}, neither released nor held")
        problems += _replay(layout, vehicle, record, tags.get(vehicle.vin))
    known = {vehicle.vin for vehicle in scenario.vehicles}
    problems += [f"{vin}: not a vehicle of the scenario" for vin in records if vin not in known]
    reported = {summary.station: summary for summary in stations}
    for name, journal in journals.items():
        report = journal.verify()
        problems += [f"{name}: journal: {problem}" for problem in report.problems]
        ended = journal.events(kinds=["cycle_ended"])
        problems += _counts(name, ended, vehicles, reported.get(name))
    return problems


def _replay(
    layout: LineLayout, vehicle: ScenarioVehicle, record: VehicleRecord, tag: bytes | None
) -> list[str]:
    """The journey through the route rules: each stop admitted or refused as the rules
    say, each outcome allowed, the end as recorded, and the tag holding the result."""
    route = layout.route
    problems = []
    progress: rules.Progress | None = None
    ended = False
    for number, stop in enumerate(record.journey, 1):
        where = f"{record.vin}: stop {number} at {stop.station}"
        if ended:
            problems.append(f"{where}: comes after the stop that ended the journey")
            break
        if stop.station not in layout.stations or layout.operation_of(stop.station) != (
            stop.operation
        ):
            problems.append(f"{where}: {stop.station} does not do {stop.operation}")
            break
        basis = progress  # a check-in's new progress reaches the tag only if it completes
        if basis is None and stop.operation == route.operations[0].operation:
            basis = rules.intake(route, vehicle.vin, vehicle.true_attributes())
        verdict = rules.admit(route, basis, stop.operation)
        if isinstance(verdict, rules.Violation):
            if stop.result != "held":
                problems.append(
                    f"{where}: the route rules refuse it ({verdict.kind}, expected "
                    f"{verdict.expected}) yet it ended {stop.result}"
                )
            ended = True
            continue
        if stop.result == "held":  # held on the way in (identity), not by the route
            ended = True
            continue
        assert basis is not None  # admitted: progress exists beyond the check-in
        outcome = _OUTCOMES.get(stop.result)
        if stop.result == "rework" and stop.operation == route.rework.operation:
            outcome = "passed"  # the rework bay's cycle ends `rework`: the repair is done
        if outcome is None:
            problems.append(f"{where}: result {stop.result!r} is not a cycle result")
            break
        try:
            progress = rules.complete(route, basis, stop.operation, outcome)
        except rules.RouteError as exc:
            problems.append(f"{where}: {exc}")
            break
        ended = progress.on_hold is not None
    if record.final == "released" and (progress is None or not rules.released(route, progress)):
        left = route.operations[0] if progress is None else rules.next_operation(route, progress)
        assert left is not None  # not released: an operation is left
        problems.append(f"{record.vin}: released, but its journey leaves {left.operation} to do")
    if record.final == "held" and not ended:
        problems.append(f"{record.vin}: held, but its journey does not end held")
    problems += _tag_problems(route, record.vin, progress, tag)
    return problems


def _tag_problems(
    route: rules.RouteSnapshot, vin: str, replayed: rules.Progress | None, tag: bytes | None
) -> list[str]:
    if tag is None:
        return [f"{vin}: no tag memory to compare the journey with"]
    try:
        on_tag: rules.Progress | None = tagfmt.decode(tag, route)
    except tagfmt.BlankTag:
        on_tag = None
    except tagfmt.TagError as exc:
        return [f"{vin}: tag unreadable: {exc}"]

    def facts(progress: rules.Progress | None) -> tuple[object, ...] | None:
        if progress is None:
            return None
        return (
            progress.done,
            progress.gates_passed,
            progress.failed_gate,
            progress.rework_loops,
            progress.on_hold,
        )

    if facts(on_tag) != facts(replayed):
        return [f"{vin}: the tag holds {facts(on_tag)}, the journey replays to {facts(replayed)}"]
    return []


def _counts(
    station: str,
    ended: list[Event],
    vehicles: Sequence[VehicleRecord],
    reported: StationSummary | None,
) -> list[str]:
    """The station's cycles in its journal against the journeys and its reported count."""
    problems = []
    journal_results = Counter(event.result or "" for event in ended)
    journey_results = Counter(
        stop.result for record in vehicles for stop in record.journey if stop.station == station
    )
    if journal_results != journey_results:
        problems.append(
            f"{station}: the journal ended cycles {dict(sorted(journal_results.items()))}, "
            f"the journeys stopped there {dict(sorted(journey_results.items()))}"
        )
    by_vin: dict[str, list[str]] = {}
    for event in ended:
        by_vin.setdefault(event.vin or "?", []).append(event.result or "")
    for record in vehicles:
        stops = [stop.result for stop in record.journey if stop.station == station]
        if stops != by_vin.get(record.vin, []):
            problems.append(
                f"{record.vin}: at {station} the journey says {stops}, "
                f"the journal {by_vin.get(record.vin, [])}"
            )
    if reported is not None and reported.cycles != len(ended):
        problems.append(
            f"{station}: reports {reported.cycles} cycles, its journal ended {len(ended)}"
        )
    return problems


def violations_of(journals: Mapping[str, JournalView], t0_ns: int) -> list[dict[str, Any]]:
    """Every refusal the stations journaled (route violations and identity mismatches),
    in time order; the station held the vehicle each time."""
    found = []
    for name, journal in journals.items():
        for event in journal.events(kinds=["violation", "hold"]):
            if event.kind == "hold" and event.result != "id_mismatch":
                continue  # a route violation's hold repeats its violation event
            found.append(
                (
                    event.mono_ns,
                    {
                        "vin": event.vin,
                        "station": name,
                        "kind": event.result,
                        "expected": event.data.get("expected"),
                        "found": event.data.get("found"),
                        "action": "held",
                        "t": round((event.mono_ns - t0_ns) / 1e9, 3),
                    },
                )
            )
    return [document for _, document in sorted(found, key=lambda pair: pair[0])]


# --- the run -------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Post:
    """One station of the line and the world around it."""

    name: str
    operation: str
    step: int | None
    sims: SimulatedDevices
    journal: Journal
    station: Station | None = None
    floor: StationFloor | None = None
    queue: asyncio.Queue[str] = dataclasses.field(default_factory=asyncio.Queue)


class LineRun:
    """One run of a scenario through every station of a line (see the module docstring)."""

    def __init__(
        self,
        layout: LineLayout,
        scenario: Scenario,
        run_dir: Path,
        *,
        time_scale: float = 1.0,
        stall_s: float | None = None,
    ) -> None:
        self.layout = layout
        self.scenario = scenario
        self.run_dir = run_dir
        self.time_scale = time_scale
        link_drops = sum(f.seconds for v in scenario.vehicles for f in v.faults)
        self.stall_s = stall_s or max(STALL_MIN_S, STALL_S * time_scale) + link_drops
        self.vehicles = {v.vin: v for v in scenario.vehicles}
        self._misroutes = {m.vin: m for m in scenario.misroutes}
        self.records = {
            v.vin: VehicleRecord(v.vin, expected_final(layout, v, self._misroutes.get(v.vin)))
            for v in scenario.vehicles
        }
        self.posts: dict[str, _Post] = {}
        self.location: dict[str, str] = {}
        """Where each vehicle on the line is: queued at, in, or travelling to a station."""
        self._t0 = time.monotonic()
        self._moved = asyncio.Event()
        self._finished: asyncio.Future[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._on_end: list[Callable[[VehicleRecord], None]] = []

    def on_vehicle_end(self, listener: Callable[[VehicleRecord], None]) -> None:
        """Call `listener` with each vehicle's record when its journey ends."""
        self._on_end.append(listener)

    def now(self) -> float:
        """Seconds since the line started."""
        return round(time.monotonic() - self._t0, 3)

    async def run(self) -> LineResult:
        """Start every station, move every vehicle to the end of its journey, stop,
        check; the journals are closed on return."""
        started, cpu = time.monotonic(), time.process_time()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tags = PersistentTagStore(self.run_dir / TAGS_FILE)
        try:
            for name, loaded in self.layout.stations.items():
                folder = self.run_dir / name
                folder.mkdir(exist_ok=True)
                operation = loaded.model.operation
                sims = SimulatedDevices(
                    loaded, time_scale=self.time_scale, tags=tags, state_dir=folder
                )
                journal = Journal.open(journal_path(folder), name)
                step = self.layout.step_of(operation)
                self.posts[name] = _Post(name, operation, step, sims, journal)
            try:
                stations = await self._start()
                startup_s = time.monotonic() - started
                self._t0 = time.monotonic()
                t0_ns = time.monotonic_ns()
                await self._move_everyone()
                summaries = [
                    StationSummary(
                        post.name,
                        post.operation,
                        station.counts["cycles"],
                        str(station.state),
                        {k: station.counts[k] for k in ("passed", "failed", "rework", "held")},
                    )
                    for post, station in zip(self.posts.values(), stations, strict=True)
                ]
                wall_moving = time.monotonic() - self._t0
            finally:
                await self._stop()
            journals = {name: post.journal for name, post in self.posts.items()}
            records = list(self.records.values())
            memory = {vin: tags.memory(tag_uid(vin)) for vin in self.records}
            problems = conservation(
                self.layout, self.scenario, records, summaries, journals, memory
            )
            log.info("line_done", moving_s=round(wall_moving, 3), problems=len(problems))
            return LineResult(
                line=self.layout.name,
                vehicles=records,
                violations=violations_of(journals, t0_ns),
                stations=summaries,
                wall_s=round(time.monotonic() - started, 3),
                cpu_s=round(time.process_time() - cpu, 3),
                startup_s=round(startup_s, 3),
                problems=problems,
                run_dir=self.run_dir,
            )
        finally:
            for post in self.posts.values():
                await post.journal.close()

    async def _start(self) -> list[Station]:
        """Every simulator, then every station, in parallel; verdicts planned."""
        await asyncio.gather(*(post.sims.start() for post in self.posts.values()))
        orders = ScenarioOrders(self.scenario)
        for post in self.posts.values():
            sims = post.sims
            post.station = Station(
                sims.loaded,
                post.journal,
                sims.build(sims.loaded),
                device_factory=sims.build,
                orders=orders,
                time_scale=self.time_scale,
                autostart=True,
            )
            post.floor = StationFloor(post.station, sims, self.vehicles, Verdicts(self.scenario))
            for vehicle in self.scenario.vehicles:
                sims.plan_verdicts(vehicle.vin, list(vehicle.verdicts.get(post.operation, [])))
        stations = [post.station for post in self.posts.values() if post.station is not None]
        await asyncio.gather(*(station.start() for station in stations))
        return stations

    async def _stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for post in self.posts.values():
            if post.station is not None:
                await post.station.stop()
        await asyncio.gather(*(post.sims.stop() for post in self.posts.values()))

    async def _move_everyone(self) -> None:
        """The conveyor until every vehicle's journey has ended (or nothing moves)."""
        self._finished = asyncio.get_running_loop().create_future()
        async with contextlib.AsyncExitStack() as floors:
            conveyors = []
            for post in self.posts.values():
                assert post.floor is not None
                await floors.enter_async_context(post.floor.open())
                task = asyncio.create_task(self._conveyor(post), name=f"conveyor:{post.name}")
                task.add_done_callback(self._conveyor_done)
                conveyors.append(task)
            intake = asyncio.create_task(self._intake(), name="line-intake")
            try:
                await self._until_done()
            finally:
                for task in (*conveyors, intake):
                    task.cancel()
                await asyncio.gather(*conveyors, intake, return_exceptions=True)

    async def _intake(self) -> None:
        """Vehicles to the check-in, in scenario order, every takt (or all queued now)."""
        checkin = self.posts[self.layout.checkin]
        for index, vehicle in enumerate(self.scenario.vehicles):
            if index and self.scenario.takt_s:
                await asyncio.sleep(self.scenario.takt_s * self.time_scale)
            self._queue(checkin, vehicle.vin)

    async def _until_done(self) -> None:
        finished = self._finished
        assert finished is not None
        while not finished.done():
            self._moved.clear()
            try:
                async with asyncio.timeout(self.stall_s):
                    await self._moved.wait()
            except TimeoutError:
                self._strand()
                return
        finished.result()  # a conveyor's error raises here

    def _strand(self) -> None:
        """Nothing moved for stall_s: the vehicles still on the line are stranded."""
        for record in self.records.values():
            if record.final is None:
                where = self.location.get(record.vin, "not entered")
                note = f"nothing moved for {self.stall_s:.0f} s; it was {where}"
                self._end(record, "stranded", note)

    def _queue(self, post: _Post, vin: str) -> None:
        self.location[vin] = f"queued at {post.name}"
        post.queue.put_nowait(vin)

    async def _conveyor(self, post: _Post) -> None:
        while True:
            vin = await post.queue.get()
            await self._visit(post, vin)

    def _conveyor_done(self, task: asyncio.Task[None]) -> None:
        """A conveyor ends only cancelled; its error ends the run (raised by run())."""
        finished = self._finished
        if task.cancelled() or finished is None or finished.done():
            return
        error = task.exception()
        if error is not None:
            finished.set_exception(error)
            self._moved.set()

    async def _visit(self, post: _Post, vin: str) -> None:
        assert post.floor is not None
        record = self.records[vin]
        first = all(stop.station != post.name for stop in record.journey)
        vehicle = self.vehicles[vin]
        faults = [f for f in vehicle.faults if f.station == post.name] if first else []
        t_in = self.now()
        self.location[vin] = f"in {post.name}"
        self._moved.set()
        result = await post.floor.drive_through(vin, faults=faults)
        stop = Stop(post.name, post.operation, post.step, result, t_in, self.now())
        record.journey.append(stop)
        self._moved.set()
        self._move_on(post, record, result)

    def _move_on(self, post: _Post, record: VehicleRecord, result: str) -> None:
        """Where the vehicle goes from here: the end of its journey, or a station."""
        if result == "held":
            self._end(record, "held")
            return
        try:
            memory = post.sims.tags.memory(tag_uid(record.vin))
            progress = tagfmt.decode(memory, self.layout.route)
        except tagfmt.TagError as exc:
            note = f"left {post.name} ({result}) with an unusable tag: {exc}"
            self._end(record, "stranded", note)
            return
        if progress.on_hold is not None:
            self._end(record, "held")
            return
        misroute = self._misroutes.get(record.vin)
        target: str
        if misroute is not None and misroute.after in progress.done:
            del self._misroutes[record.vin]
            target = misroute.station
        else:
            upcoming = rules.next_operation(self.layout.route, progress)
            if upcoming is None:
                self._end(record, "released")
                return
            target = upcoming.station
        self._travel(record.vin, target)

    def _travel(self, vin: str, target: str) -> None:
        self.location[vin] = f"travelling to {target}"
        loop = asyncio.get_running_loop()

        def arrive() -> None:
            self._timers.discard(handle)
            self._queue(self.posts[target], vin)
            self._moved.set()

        handle = loop.call_later(TRAVEL_S * self.time_scale, arrive)
        self._timers.add(handle)

    def _end(self, record: VehicleRecord, final: Final, note: str = "") -> None:
        record.final, record.note = final, note
        self.location.pop(record.vin, None)
        log.info("journey_ended", vin=record.vin, final=final, stops=len(record.journey))
        for listener in self._on_end:
            listener(record)
        finished = self._finished
        everyone = all(r.final is not None for r in self.records.values())
        if everyone and finished is not None and not finished.done():
            finished.set_result(None)
            self._moved.set()

    def snapshot(self) -> dict[str, Any]:
        """The line now, for a live summary."""
        finals = Counter(record.final for record in self.records.values())
        return {
            "vehicles": len(self.records),
            "released": finals["released"],
            "held": finals["held"],
            "stranded": finals["stranded"],
            "travelling": sum(where.startswith("travelling") for where in self.location.values()),
            "t": self.now(),
            "stations": [
                {
                    "station": post.name,
                    "state": str(post.station.state) if post.station is not None else "-",
                    "vin": post.floor.present if post.floor is not None else None,
                    "queue": post.queue.qsize(),
                    "cycles": post.station.counts["cycles"] if post.station is not None else 0,
                }
                for post in self.posts.values()
            ],
        }
