"""What in a scenario a line cannot run, checked before the run."""

from __future__ import annotations

from station import route as rules
from station.scenario import Scenario
from station.simulation.line._layout import LineLayout
from station.vin import VinError, parse_vin


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
