"""Vehicles of a scenario arriving at one station (`station run --simulate`).

For a station on its own, a vehicle must arrive with the tag the upstream
stations would have written: the feeder computes it with the route rules
(every due operation before this one passed; a misroute of the scenario is a
vehicle whose tag says it has gone further). Then the vehicle is put in front
of the readers, its verdicts planned, its faults injected, and it drives in
(the PLC simulator's arrival); the feeder waits until it has driven out, or
until a supervisor has taken it out of the station (held).

After a restart the vehicle the journal says is in the station is put back
where the journal says it was: the physical world keeps what the completed
steps awaited (it is on the table, its tag holds what was written).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

import structlog

from station import route as rules
from station import tag as tagfmt
from station.config.models import Operation, WaitInputStep
from station.journal import Event
from station.runtime import Station
from station.scenario import Scenario, ScenarioFault, ScenarioVehicle
from station.simulation.devices import SimulatedDevices
from station.simulation.people import People, Verdicts

log = structlog.get_logger("feeder")


MID_CYCLE = frozenset({"plc_link_drop", "modbus_exception"})
"""Faults injected once the vehicle is in the station (admitted), not at its arrival."""


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


class StationWorld:
    """Feeds one station the scenario's vehicles, in order (see the module docstring)."""

    def __init__(
        self, station: Station, sims: SimulatedDevices, scenario: Scenario, *, time_scale: float
    ) -> None:
        self.station = station
        self.sims = sims
        self.scenario = scenario
        self.time_scale = time_scale
        self.present: str | None = None
        self.results: dict[str, str] = {}
        vehicles = {v.vin: v for v in scenario.vehicles}
        self.people = People(station, vehicles, Verdicts(scenario), present=lambda: self.present)
        self._ended: dict[str, asyncio.Future[str]] = {}
        self._mid_cycle: list[ScenarioFault] = []
        station.on_event(self._on_event)

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

    async def run(self) -> None:
        """Every vehicle of the scenario, one after the other, then return."""
        operation = self.station.config.model.operation
        route = self.station.route
        people = asyncio.create_task(self.people.run(), name=f"people:{self.station.name}")
        try:
            done = {e.vin for e in self.station.journal.events(kinds=["cycle_ended"]) if e.vin}
            visit = self.station.visit
            if visit is not None and visit.vin is not None:
                await self._drive_through(visit.vin, restored=True)
                done.add(visit.vin)
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
                self._mid_cycle = [f for f in faults if f.kind in MID_CYCLE]
                for fault in faults:
                    if fault.kind not in MID_CYCLE:
                        await self.sims.inject(fault)
                swapped = any(f.kind == "label_mismatch" for f in faults)
                await self._drive_through(
                    vehicle.vin, label=foreign_vin(vehicle.vin) if swapped else None
                )
                if self.scenario.takt_s:
                    await asyncio.sleep(self.scenario.takt_s * self.time_scale)
        finally:
            people.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await people

    def _due_here(self, progress: rules.Progress | None) -> bool:
        if progress is None:
            return True
        target = rules.next_operation(self.station.route, progress)
        return target is not None and target.operation == self.station.config.model.operation

    async def _drive_through(
        self, vin: str, *, restored: bool = False, label: str | None = None
    ) -> None:
        """Put the vehicle at the station, wait until it has left (or was taken out)."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[str] = loop.create_future()
        self._ended[vin] = ended
        departed = asyncio.Event()
        callbacks = [plc.on_departed for plc in self.sims.plcs.values()]
        for callback_list in callbacks:
            callback_list.append(departed.set)
        self.present = vin
        self.sims.present(vin, tag_uid(vin), label=label)
        try:
            if restored:
                self._restore_position()
            else:
                for plc in self.sims.plcs.values():
                    plc.arrive()
            result = await ended
            if result == "held":
                self._take_out()
            elif self._still_present() and not departed.is_set():
                await departed.wait()
            self.results[vin] = result
            log.info("vehicle_done", station=self.station.name, vin=vin, result=result)
        finally:
            for callback_list in callbacks:
                callback_list.remove(departed.set)
            self._ended.pop(vin, None)
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
        """The inputs every completed wait awaited (the vehicle is where it was);
        nothing when it had already left."""
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

    def _take_out(self) -> None:
        """A supervisor had the held vehicle pushed out of the station."""
        for plc in self.sims.plcs.values():
            behaviour = plc.behaviour
            for role in (behaviour.vehicle_present, behaviour.vehicle_in_position):
                if role is not None:
                    plc.set_input(role, 0)
