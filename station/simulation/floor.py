"""The floor around one simulated station: where a vehicle of a scenario is put
in front of the readers, drives in and out, or is taken out.

`StationFloor` is the physical world around one station, shared by every
driver of vehicles (`StationWorld` in `station.simulation.world`, the line's
conveyor in `station.simulation.line`): a vehicle is put in front of the
readers (its VIN label and its hang tag), the values its measuring devices and
its inspector give set for this visit (`measurements` of the scenario, per visit
in order, else within the limits) and what its inspection system or inspector
finds (`findings`, per visit in order, else none), its faults injected (those that
strike mid-cycle once the station has admitted it), and it drives in (the PLC
simulator's arrival); the floor then waits until it has driven out (the PLC
simulator's departure), or until it was taken out of the station (held):
pushed out, then, once the station has seen it go, removed by the
supervisor's disposition, in that order as on a real floor (the people's
`before_remove`). The people of the station (`People`) work on the floor
while it is open (`async with floor.open()`); a technician frees a stalled
turntable before the operator's reset.

After a restart the vehicle the journal says is in the station is put back
where the journal says it was (`enter(vin, restored=True)`): the physical
world keeps what the completed steps awaited (it is on the table, its tag
holds what was written).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import structlog

from station import limits
from station.config.models import WaitInputStep
from station.scenario import (
    ScenarioFault,
    ScenarioFinding,
    ScenarioVehicle,
    measured_quantities,
)
from station.simulation.devices import SimulatedDevices
from station.simulation.people import People, Verdicts
from station.simulation.view import Happened, StationView

log = structlog.get_logger("floor")


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
        station: StationView,
        sims: SimulatedDevices,
        vehicles: Mapping[str, ScenarioVehicle],
        verdicts: Verdicts,
    ) -> None:
        self.station = station
        self.sims = sims
        self.present: str | None = None
        """The vehicle at the station (in front of its readers, or in it)."""
        self.measuring: dict[str, float] = {}
        """What the station measures of the vehicle at it this visit, by quantity name."""
        self.finding: list[ScenarioFinding] = []
        """What the station finds in the vehicle at it this visit (its inspection system,
        or its inspector who types the codes)."""
        self.vehicles = vehicles
        self._visits: dict[str, int] = {}
        self.people = People(
            station,
            dict(vehicles),
            verdicts,
            present=lambda: self.present,
            before_remove=self.take_out,
            measured=self.measuring.get,
            found=lambda: self.finding,
        )
        """The station's people: a held vehicle the supervisor removes is pushed out
        first, and the 'remove' disposition given once the station has seen it go."""
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

    def _on_event(self, event: Happened) -> None:
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
        vehicle = self.vehicles.get(vin)
        label = vehicle.label if vehicle is not None else None
        self.sims.present(vin, tag_uid(vin), label=foreign_vin(vin) if swapped else label)
        self._measure(vin)
        if restored:
            self._restore_position()
        else:
            for plc in self.sims.plcs.values():
                plc.arrive()
        return passage

    def _measure(self, vin: str) -> None:
        """This visit's values of the vehicle (the scenario's, else within the limits),
        given to the measuring devices and to the inspector who types them."""
        visit = self._visits.get(vin, 0)
        self._visits[vin] = visit + 1
        vehicle = self.vehicles.get(vin)
        given = vehicle.measurements.get(self.station.config.model.operation, []) if vehicle else []
        quantities = measured_quantities(self.station.config.model)
        self.measuring.clear()
        self.measuring.update({name: limits.nominal(q) for name, q in quantities.items()})
        if visit < len(given):
            self.measuring.update(given[visit])
        self.sims.measure(self.measuring)
        found = vehicle.findings.get(self.station.config.model.operation, []) if vehicle else []
        self.finding[:] = found[visit] if visit < len(found) else []
        self.sims.inspect(self.measuring, self.finding)

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
