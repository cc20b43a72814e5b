"""What a scenario expects of each vehicle, from the route rules over the scenario
alone: verdicts, measured values out of their limits (the station files' limits),
findings of a severity their gate fails on, attributes found on the way, misroutes,
and the identity faults that make a supervisor remove a vehicle."""

from __future__ import annotations

from collections import deque
from typing import Literal

from station import limits
from station import route as rules
from station.attributes_found import with_found
from station.config.models import IdentifyStep, Operation
from station.scenario import Misroute, ScenarioVehicle, findings_fail, measured_quantities
from station.simulation.line._layout import LineLayout

IDENTITY_HOLDS = frozenset({"label_mismatch", "rfid_notag", "rfid_multi"})
"""Faults after which a supervisor removes the vehicle (identity not established)."""


def expected_final(
    layout: LineLayout, vehicle: ScenarioVehicle, misroute: Misroute | None
) -> Literal["released", "held"]:
    """Where the route rules take this vehicle, given its verdicts, its misroute and
    its identity faults: held for a supervisor, or released."""
    route = layout.route
    progress = rules.intake(route, vehicle.vin, vehicle.true_attributes())
    verdicts = {gate: deque(list_) for gate, list_ in vehicle.verdicts.items()}
    measured = {op: deque(visits) for op, visits in vehicle.measurements.items()}
    found = {op: deque(visits) for op, visits in vehicle.findings.items()}
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
        station = layout.pinned(vehicle, target, visited) or target.served_by[0]
        if station not in visited and _identity_held(layout, vehicle, station):
            return "held"
        visited.add(station)
        failed = False
        if isinstance(target, Operation) and target.gate and verdicts.get(target.operation):
            failed = verdicts[target.operation].popleft() == "fail"
        if measured.get(target.operation):
            values = measured[target.operation].popleft()
            quantities = measured_quantities(layout.stations[station].model)
            failed |= any(not limits.within(v, quantities[n]) for n, v in values.items())
        if found.get(target.operation):
            failed |= findings_fail(
                layout.stations[station].model, found[target.operation].popleft()
            )
        progress = with_found(
            route, progress, target.operation, vehicle.found.get(target.operation, {})
        )
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
    unread |= vehicle.label is not None  # never a VIN (check_scenario)
    untagged = identify.rfid is None or station == layout.checkin
    typed = vehicle.manual_vin and identify.manual_entry
    return unread and untagged and not typed
