"""The conservation check of a run (see the package docstring), and the refusals
the stations journaled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from station import route as rules
from station import tag as tagfmt
from station.attributes_found import with_found
from station.journal import Event, Journal, JournalReader
from station.scenario import Scenario, ScenarioVehicle
from station.simulation.line._layout import LineLayout
from station.simulation.line._records import Journey, StationSummary

_OUTCOMES: dict[str, rules.Outcome] = {"passed": "passed", "failed": "failed", "rework": "rework"}


JournalView = Journal | JournalReader
"""What the check reads: the journals of the run (open) or of a finished one."""


def conservation(
    layout: LineLayout,
    scenario: Scenario,
    vehicles: Sequence[Journey],
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
        if record is None or not record.stops:
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
    layout: LineLayout, vehicle: ScenarioVehicle, record: Journey, tag: bytes | None
) -> list[str]:
    """The journey through the route rules: each stop admitted or refused as the rules
    say, each outcome allowed, the end as recorded, and the tag holding the result."""
    route = layout.route
    problems = []
    progress: rules.Progress | None = None
    ended = False
    for number, stop in enumerate(record.stops, 1):
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
        if stop.operation != route.rework.operation:
            basis = with_found(route, basis, stop.operation, vehicle.found.get(stop.operation, {}))
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
            progress.found,
        )

    if facts(on_tag) != facts(replayed):
        return [f"{vin}: the tag holds {facts(on_tag)}, the journey replays to {facts(replayed)}"]
    return []


def _counts(
    station: str,
    ended: list[Event],
    vehicles: Sequence[Journey],
    reported: StationSummary | None,
) -> list[str]:
    """The station's cycles in its journal against the journeys and its reported count."""
    problems = []
    journal_results = Counter(event.result or "" for event in ended)
    journey_results = Counter(
        stop.result for record in vehicles for stop in record.stops if stop.station == station
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
        stops = [stop.result for stop in record.stops if stop.station == station]
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
