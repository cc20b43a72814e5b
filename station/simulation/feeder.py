"""Vehicles of a scenario at simulated stations: the floor around one station,
and the feeder of one station on its own (`station run --simulate`).

`StationFloor` is the physical world around one station, shared by every
driver of vehicles (`StationWorld` here, the line's conveyor in
`station.simulation.line`): a vehicle is put in front of the readers (its
VIN label and its hang tag), its faults injected (those that strike mid-cycle
once the station has admitted it), and it drives in (the PLC simulator's
arrival); the floor then waits until it has driven out (the PLC simulator's
departure), or until it was taken out of the station (held): pushed out,
then, once the station has seen it go, removed by the supervisor's
disposition, in that order as on a real floor. The people of the station
(`People`) work on the floor while it is open (`async with floor.open()`); a
technician frees a stalled turntable before the operator's reset.

`StationWorld` feeds ONE station: a vehicle must arrive with the tag the
upstream stations would have written, so it computes it with the route rules
(every due operation before this one passed; a misroute of the scenario is a
vehicle whose tag says it has gone further) and writes it before the vehicle
drives in. On a line no tag is computed: the tag memory travels with the
vehicle through the shared `TagStore`.

After a restart the vehicle the journal says is in the station is put back
where the journal says it was: the physical world keeps what the completed
steps awaited (it is on the table, its tag holds what was written).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import structlog

from station import route as rules
from station import tag as tagfmt
from station.config.models import Operation, WaitInputStep
from station.fsm import State
from station.journal import Event
from station.runtime import Station
from station.scenario import Scenario, ScenarioFault, ScenarioVehicle
from station.simulation.devices import SimulatedDevices
from station.simulation.people import REMOVE_ON, People, Verdicts

log = structlog.get_logger("feeder")


MID_CYCLE = frozenset({"plc_link_drop", "modbus_exception"})
"""Faults injected once the vehicle is in the station (admitted), not at its arrival."""

TAKE_OUT_TIMEOUT_S = 5.0
"""Longest wait for the station to see a held vehicle gone once it was pushed out."""


def tag_uid(vin: str) -> str:
    """The hang tag paired with a vehicle: an ISO 15693 UID (E0 = ISO 15693)."""
    return "E004" + hashlib.sha256(vin.encode()).hexdigest()[:12].upper()


def foreign_vin(vin: str) -> str:
    """Another vehicle's VIN, as on a swapped windscreen label."""
    serial = (int(vin[-6:]) + 1) % 1_000_000 if vin[-6:].isdigit() else 1
    return f"{vin[:11]}{serial:06d}"


def progress_until(
    route: rules.RouteSnapshot,
    vehicle: ScenarioVehicle,
    stop_before: str,
    *,
    through: str | None = None,
) -> rules.Progress | None:
    """The vehicle's progress when it reaches `stop_before` (every due operation before
    it passed), or after `through` (a misroute). None when `stop_before` is the check-in."""
    if through is None and stop_before == route.operations[0].operation:
        return None
    progress = rules.intake(route, vehicle.vin, vehicle.true_attributes())
    while True:
        target = rules.next_operation(route, progress)
        if target is None or (through is None and target.operation == stop_before):
            return progress
        if stop_before == route.rework.operation and isinstance(target, Operation) and target.gate:
            return rules.complete(route, progress, target.operation, "failed")
        progress = rules.complete(route, progress, target.operation, "passed")
        if through is not None and target.operation == through:
            return progress


@dataclass
class Passage:
    """One vehicle going through a station."""

    vin: str
    ended: asyncio.Future[str]
    departed: asyncio.Event


class StationFloor:
    """The world around one station (see the module docstring)."""

    def __init__(
        self,
        station: Station,
        sims: SimulatedDevices,
        vehicles: Mapping[str, ScenarioVehicle],
        verdicts: Verdicts,
    ) -> None:
        self.station = station
        self.sims = sims
        self.present: str | None = None
        """The vehicle at the station (in front of its readers, or in it)."""
        self.people = _FloorPeople(self, dict(vehicles), verdicts)
        self._ended: dict[str, asyncio.Future[str]] = {}
        self._mid_cycle: list[ScenarioFault] = []
        station.on_event(self._on_event)

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[StationFloor]:
        """The floor with its people at work; they stop when it closes."""
        people = asyncio.create_task(self.people.run(), name=f"people:{self.station.name}")
        try:
            yield self
        finally:
            people.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await people

    def _on_event(self, event: Event) -> None:
        if event.kind == "admitted" and self._mid_cycle:
            faults, self._mid_cycle = self._mid_cycle, []
            for fault in faults:  # the vehicle is in the station: now the link goes
                task = asyncio.get_running_loop().create_task(
                    self.sims.inject(fault), name=f"inject:{fault.kind}"
                )
                task.add_done_callback(lambda t: t.result())
        vin = event.vin or self.present
        if event.kind == "cycle_ended" and vin is not None:
            future = self._ended.get(vin)
            if future is not None and not future.done():
                future.set_result(event.result or "")
        if event.kind == "fault" and (event.result or "").startswith("turntable_"):
            for table in self.sims.turntables.values():
                table.clear_faults()  # the technician frees the table before the reset

    async def drive_through(
        self, vin: str, *, faults: Sequence[ScenarioFault] = (), restored: bool = False
    ) -> str:
        """Put the vehicle at the station with `faults` injected, wait until it has left
        (or was taken out); the result of its cycle (passed, failed, rework, held)."""
        self._mid_cycle = [f for f in faults if f.kind in MID_CYCLE]
        for fault in faults:
            if fault.kind not in MID_CYCLE:
                await self.sims.inject(fault)
        swapped = any(f.kind == "label_mismatch" for f in faults)
        return await self.leave(self.enter(vin, restored=restored, swapped=swapped))

    def enter(self, vin: str, *, restored: bool = False, swapped: bool = False) -> Passage:
        """The vehicle arrives at the station or, restored after a restart, is put back
        where the journal says it was (call that before the station starts moving)."""
        passage = Passage(vin, asyncio.get_running_loop().create_future(), asyncio.Event())
        self._ended[vin] = passage.ended
        for plc in self.sims.plcs.values():
            plc.on_departed.append(passage.departed.set)
        self.present = vin
        self.sims.present(vin, tag_uid(vin), label=foreign_vin(vin) if swapped else None)
        if restored:
            self._restore_position()
        else:
            for plc in self.sims.plcs.values():
                plc.arrive()
        return passage

    async def leave(self, passage: Passage) -> str:
        """Wait until the vehicle has left (or was taken out, held); its cycle's result."""
        try:
            result = await passage.ended
            if result == "held":
                await self.take_out()  # if the supervisor did not have it done before
            elif self._still_present() and not passage.departed.is_set():
                await passage.departed.wait()
            log.info("vehicle_done", station=self.station.name, vin=passage.vin, result=result)
            return result
        finally:
            for plc in self.sims.plcs.values():
                plc.on_departed.remove(passage.departed.set)
            self._ended.pop(passage.vin, None)
            self.present = None
            self.sims.present(None, None)

    def _still_present(self) -> bool:
        """Whether a PLC still sees the vehicle (it may have left before a restart)."""
        return any(
            plc.behaviour.vehicle_present is not None
            and plc.input(plc.behaviour.vehicle_present) == 1
            for plc in self.sims.plcs.values()
        )

    def _restore_position(self) -> None:
        """The inputs every completed wait awaited (the vehicle is where it was); nothing
        when it had already left."""
        visit = self.station.visit
        assert visit is not None
        if visit.released:
            return
        steps = self.station.config.model.cycle
        for index, step in enumerate(steps[: visit.step_index]):
            if isinstance(step, WaitInputStep):
                for name, plc in self.sims.plcs.items():
                    if step.input in self.sims.loaded.model.devices[name].inputs:  # type: ignore[union-attr]
                        plc.set_input(step.input, step.value)
                        log.info("restored_input", input=step.input, value=step.value, step=index)

    async def take_out(self) -> None:
        """Push the held vehicle out of the station (readers and photo-eyes see nothing);
        return once the station has seen it gone: its inputs debounce, and a new cycle
        must not start on the last reading of the vehicle that left."""
        self.sims.present(None, None)
        for plc in self.sims.plcs.values():
            behaviour = plc.behaviour
            for role in (behaviour.vehicle_present, behaviour.vehicle_in_position):
                if role is not None:
                    plc.set_input(role, 0)
        for plc in self.sims.plcs.values():
            present = plc.behaviour.vehicle_present
            if present is not None and present in self.station.devices.input_names():
                driver = self.station.devices.plc_with_input(present)
                await driver.wait_for(present, 0, TAKE_OUT_TIMEOUT_S)


class _FloorPeople(People):
    """The station's people on the floor: a held vehicle the supervisor removes is
    pushed out first, and the 'remove' disposition given once the station has seen it
    go, as on a real floor (out first, then the supervisor confirms)."""

    def __init__(
        self, floor: StationFloor, vehicles: dict[str, ScenarioVehicle], verdicts: Verdicts
    ) -> None:
        super().__init__(floor.station, vehicles, verdicts, present=lambda: floor.present)
        self._floor = floor

    async def _act(self) -> None:
        station = self.station
        prompt = station.prompts.current
        open_prompt = prompt is not None and not prompt.future.done()
        visit = station.visit
        if (
            station.state is State.HELD
            and visit is not None
            and (visit.held or "") in REMOVE_ON
            and not open_prompt
        ):
            await self._floor.take_out()
        await super()._act()


class StationWorld:
    """Feeds one station the scenario's vehicles, in order (see the module docstring).
    Build it after the station (which restores its visit) and before `station.start()`."""

    def __init__(
        self, station: Station, sims: SimulatedDevices, scenario: Scenario, *, time_scale: float
    ) -> None:
        self.station = station
        self.sims = sims
        self.scenario = scenario
        self.time_scale = time_scale
        self.results: dict[str, str] = {}
        vehicles = {v.vin: v for v in scenario.vehicles}
        self.floor = StationFloor(station, sims, vehicles, Verdicts(scenario))
        visit = station.visit
        self._restored: Passage | None = None
        if visit is not None and visit.vin is not None:
            # Before the station starts moving: the vehicle is back where it was.
            self._restored = self.floor.enter(visit.vin, restored=True)

    async def run(self) -> None:
        """Every vehicle of the scenario, one after the other, then return."""
        operation = self.station.config.model.operation
        route = self.station.route
        async with self.floor.open():
            done = {e.vin for e in self.station.journal.events(kinds=["cycle_ended"]) if e.vin}
            if self._restored is not None:
                done.add(self._restored.vin)
                self.results[self._restored.vin] = await self.floor.leave(self._restored)
            misroutes = {
                m.vin: m for m in self.scenario.misroutes if m.station == self.station.name
            }
            for vehicle in self.scenario.vehicles:
                if vehicle.vin in done:
                    continue
                misroute = misroutes.get(vehicle.vin)
                through = misroute.after if misroute is not None else None
                progress = progress_until(route, vehicle, operation, through=through)
                if misroute is None and not self._due_here(progress):
                    continue
                uid = tag_uid(vehicle.vin)
                content = b"" if progress is None else tagfmt.encode(progress.next_write(), route)
                self.sims.tags.write(uid, 0, content.ljust(tagfmt.TAG_BYTES, b"\0"))
                self.sims.plan_verdicts(vehicle.vin, list(vehicle.verdicts.get(operation, [])))
                faults = [f for f in vehicle.faults if f.station == self.station.name]
                self.results[vehicle.vin] = await self.floor.drive_through(
                    vehicle.vin, faults=faults
                )
                if self.scenario.takt_s:
                    await asyncio.sleep(self.scenario.takt_s * self.time_scale)

    def _due_here(self, progress: rules.Progress | None) -> bool:
        if progress is None:
            return True
        target = rules.next_operation(self.station.route, progress)
        return target is not None and target.operation == self.station.config.model.operation
