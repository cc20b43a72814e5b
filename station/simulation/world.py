"""One simulated station fed the vehicles of a scenario on its own (`station run
--simulate --scenario`), on the floor of `station.simulation.floor`.

`StationWorld` feeds ONE station: a vehicle must arrive with the tag the
upstream stations would have written, so it computes it with the route rules
(every due operation before this one passed; a misroute of the scenario is a
vehicle whose tag says it has gone further) and writes it before the vehicle
drives in. On a line no tag is computed: the tag memory travels with the
vehicle through the shared `TagStore`.

After a restart the vehicle the journal says is in the station is put back
where the journal says it was, before the station starts moving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from station import route as rules
from station import tag as tagfmt
from station.attributes_found import with_found
from station.config.models import Operation
from station.scenario import Scenario, ScenarioVehicle
from station.simulation.devices import SimulatedDevices
from station.simulation.floor import Passage, StationFloor, tag_uid
from station.simulation.people import Verdicts
from station.simulation.view import StationView


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
        found = vehicle.found.get(target.operation, {})
        progress = with_found(route, progress, target.operation, found)
        progress = rules.complete(route, progress, target.operation, "passed")
        if through is not None and target.operation == through:
            return progress


class StationWorld:
    """Feeds one station the scenario's vehicles, in order (see the module docstring).
    Build it after the station (which restores its visit) and before `station.start()`.
    `gate`, when given, is awaited before each vehicle comes (a bench holds them back)."""

    def __init__(
        self,
        station: StationView,
        sims: SimulatedDevices,
        scenario: Scenario,
        *,
        time_scale: float,
        gate: Callable[[ScenarioVehicle], Awaitable[None]] | None = None,
    ) -> None:
        self.station = station
        self.gate = gate
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
                if self.gate is not None:
                    await self.gate(vehicle)
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
