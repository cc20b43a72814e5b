"""One run of a scenario through every station of a line: the conveyor."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from station import route as rules
from station import tag as tagfmt
from station.assembly import Assembly, assemble_line
from station.config.models import Operation, Rework
from station.journal import JournalReader
from station.scenario import Scenario
from station.simulation.devices import PersistentTagStore
from station.simulation.floor import StationFloor, tag_uid
from station.simulation.line._conservation import conservation, violations_of
from station.simulation.line._dispatch import Candidate, shortest_queue
from station.simulation.line._expected import expected_final
from station.simulation.line._layout import LineLayout
from station.simulation.line._plant import PlantSide
from station.simulation.line._records import Final, Journey, LineResult, StationSummary, Stop
from station.state_dir import journal_path

log = structlog.get_logger("line")

TRAVEL_S = 20.0
"""Physical time a vehicle takes from one station to the next (scaled by the run)."""
STALL_S = 300.0
"""Physical time without any vehicle moving after which a run is stalled (scaled) ..."""
STALL_MIN_S = 30.0
"""... but never less than this many real seconds."""
TAGS_FILE = "sim-tags.json"


@dataclasses.dataclass
class LineStation:
    """One station of the line: its place on the route, its queue, and, once the line
    is assembled, the station with its simulators and the floor around it."""

    name: str
    operation: str
    step: int | None
    queue: asyncio.Queue[str] = dataclasses.field(default_factory=asyncio.Queue)
    assembly: Assembly | None = None
    inbound: int = 0
    """Vehicles travelling to it."""
    occupied: bool = False
    """A vehicle is in the station."""

    @property
    def built(self) -> Assembly:
        assert self.assembly is not None, f"{self.name} is not assembled yet"
        return self.assembly

    @property
    def floor(self) -> StationFloor:
        floor = self.built.floor
        assert floor is not None  # a line's station is simulated, with the scenario
        return floor

    def summary(self) -> StationSummary:
        """The station's counts and state (docs/cli.md's `stations`)."""
        station = self.built.station
        counts = {k: station.counts[k] for k in ("passed", "failed", "rework", "held")}
        return StationSummary(
            self.name, self.operation, station.counts["cycles"], str(station.state), counts
        )

    def candidate(self) -> Candidate:
        """The station as the dispatch to parallel stations weighs it."""
        return Candidate(self.name, self.queue.qsize() + self.inbound, not self.occupied)

    def row(self) -> dict[str, Any]:
        """The station now, for a live summary ("-" before it is assembled)."""
        if self.assembly is None:
            return {"station": self.name, "state": "-", "vin": None, "queue": 0, "cycles": 0}
        return {
            "station": self.name,
            "state": str(self.assembly.station.state),
            "vin": self.floor.present,
            "queue": self.queue.qsize(),
            "cycles": self.assembly.station.counts["cycles"],
        }


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
        plant: PlantSide | None = None,
    ) -> None:
        self.layout = layout
        self.plant = plant
        self.scenario = scenario
        self.run_dir = run_dir
        self.time_scale = time_scale
        link_drops = sum(f.seconds for v in scenario.vehicles for f in v.faults)
        self.stall_s = stall_s or max(STALL_MIN_S, STALL_S * time_scale) + link_drops
        self.vehicles = {v.vin: v for v in scenario.vehicles}
        self._misroutes = {m.vin: m for m in scenario.misroutes}
        self.records = {
            v.vin: Journey(v.vin, expected_final(layout, v, self._misroutes.get(v.vin)))
            for v in scenario.vehicles
        }
        self.posts = {
            name: LineStation(name, loaded.model.operation, layout.step_of(loaded.model.operation))
            for name, loaded in layout.stations.items()
        }
        self.location: dict[str, str] = {}
        """Where each vehicle on the line is: queued at, in, or travelling to a station."""
        self._t0 = time.monotonic()
        self._moved = asyncio.Event()
        self._finished: asyncio.Future[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._on_end: list[Callable[[Journey], None]] = []

    def on_vehicle_end(self, listener: Callable[[Journey], None]) -> None:
        """Call `listener` with each vehicle's record when its journey ends."""
        self._on_end.append(listener)

    def now(self) -> float:
        """Seconds since the line started."""
        return round(time.monotonic() - self._t0, 3)

    async def run(self) -> LineResult:
        """Start every station, move every vehicle to the end of its journey, stop,
        check; the journals are closed on return."""
        started, cpu = time.monotonic(), time.process_time()
        since = time.time() - 1.0
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tags = PersistentTagStore(self.run_dir / TAGS_FILE)
        plant = self.plant
        stations = (
            self.layout.stations if plant is None else plant.with_uplinks(self.layout).stations
        )
        drain = (
            None
            if plant is None
            else functools.partial(plant.drain, self.run_dir, list(self.posts))
        )
        async with assemble_line(
            stations, self.run_dir, self.scenario, tags, time_scale=self.time_scale, drain=drain
        ) as assemblies:
            for post, assembly in zip(self.posts.values(), assemblies, strict=True):
                post.assembly = assembly
            startup_s = time.monotonic() - started
            self._t0 = time.monotonic()
            t0_ns = time.monotonic_ns()
            try:
                await self._move_everyone()
            finally:
                for timer in self._timers:
                    timer.cancel()
                self._timers.clear()
            summaries = [post.summary() for post in self.posts.values()]
            wall_moving = time.monotonic() - self._t0
        records = list(self.records.values())
        memory = {vin: tags.memory(tag_uid(vin)) for vin in self.records}
        with contextlib.ExitStack() as readers:
            journals = {
                name: readers.enter_context(JournalReader.open(journal_path(self.run_dir / name)))
                for name in self.posts
            }
            problems = conservation(
                self.layout, self.scenario, records, summaries, journals, memory
            )
            violations = violations_of(journals, t0_ns)
        if plant is not None:
            problems += await asyncio.to_thread(
                plant.check, self.layout, self.run_dir, records, since, time.time()
            )
        log.info("line_done", moving_s=round(wall_moving, 3), problems=len(problems))
        return LineResult(
            line=self.layout.name,
            vehicles=records,
            violations=violations,
            stations=summaries,
            wall_s=round(time.monotonic() - started, 3),
            cpu_s=round(time.process_time() - cpu, 3),
            startup_s=round(startup_s, 3),
            problems=problems,
            run_dir=self.run_dir,
        )

    async def _move_everyone(self) -> None:
        """The conveyor until every vehicle's journey has ended (or nothing moves)."""
        self._finished = asyncio.get_running_loop().create_future()
        async with contextlib.AsyncExitStack() as floors:
            conveyors = []
            for post in self.posts.values():
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
        checkin = self.layout.route.operations[0]
        for index, vehicle in enumerate(self.scenario.vehicles):
            if index and self.scenario.takt_s:
                await asyncio.sleep(self.scenario.takt_s * self.time_scale)
            self._queue(self.posts[self._dispatch(vehicle.vin, checkin)], vehicle.vin)

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

    def _queue(self, post: LineStation, vin: str) -> None:
        self.location[vin] = f"queued at {post.name}"
        post.queue.put_nowait(vin)

    async def _conveyor(self, post: LineStation) -> None:
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

    async def _visit(self, post: LineStation, vin: str) -> None:
        record = self.records[vin]
        first = all(stop.station != post.name for stop in record.stops)
        vehicle = self.vehicles[vin]
        faults = [f for f in vehicle.faults if f.station == post.name] if first else []
        t_in = self.now()
        self.location[vin] = f"in {post.name}"
        self._moved.set()
        post.occupied = True
        try:
            result = await post.floor.drive_through(vin, faults=faults)
        finally:
            post.occupied = False
        stop = Stop(post.name, post.operation, post.step, result, t_in, self.now())
        record.stops.append(stop)
        self._moved.set()
        self._move_on(post, record, result)

    def _move_on(self, post: LineStation, record: Journey, result: str) -> None:
        """Where the vehicle goes from here: the end of its journey, or a station."""
        if result == "held":
            self._end(record, "held")
            return
        try:
            memory = post.floor.sims.tags.memory(tag_uid(record.vin))
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
            target = self._dispatch(record.vin, upcoming)
        self._travel(record.vin, target)

    def _dispatch(self, vin: str, target: Operation | Rework) -> str:
        """The station of `target` the vehicle goes to: the one its faults name, else
        the one with the shortest queue (`shortest_queue`)."""
        visited = [stop.station for stop in self.records[vin].stops]
        pinned = self.layout.pinned(self.vehicles[vin], target, visited)
        if pinned is not None:
            return pinned
        stations = target.served_by
        return shortest_queue([self.posts[name].candidate() for name in stations])

    def _travel(self, vin: str, target: str) -> None:
        self.location[vin] = f"travelling to {target}"
        loop = asyncio.get_running_loop()
        post = self.posts[target]
        post.inbound += 1

        def arrive() -> None:
            self._timers.discard(handle)
            post.inbound -= 1
            self._queue(post, vin)
            self._moved.set()

        handle = loop.call_later(TRAVEL_S * self.time_scale, arrive)
        self._timers.add(handle)

    def _end(self, record: Journey, final: Final, note: str = "") -> None:
        record.final, record.note = final, note
        self.location.pop(record.vin, None)
        log.info("journey_ended", vin=record.vin, final=final, stops=len(record.stops))
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
            "stations": [post.row() for post in self.posts.values()],
        }
