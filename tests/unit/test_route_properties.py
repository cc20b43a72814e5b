"""The line's promise, proven over any route and any presentations (issue 3, "Done when").

Each test plays random journeys (tests/route_strategies.py) through the
route rules and checks one property on what happened, judged from the
journey's own record (what was admitted, with which outcome), not from the
rules' bookkeeping.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from route_strategies import Event, Presentation, drive, finds_of, journeys, routes, takes, vins

from station.config.models import Operation, Rework
from station.progress_check import check_progress
from station.route import (
    Admitted,
    Progress,
    RouteError,
    RouteSnapshot,
    Violation,
    admit,
    complete,
    due_operations,
    find,
    intake,
    next_operation,
    progress_due,
    released,
)

PROPERTY = settings(max_examples=250, deadline=None)
Journey = tuple[RouteSnapshot, str, frozenset[str], list[Presentation]]


def _played(journey: Journey) -> tuple[RouteSnapshot, frozenset[str], list[Event]]:
    route, vin, attributes, presentations = journey
    return route, attributes, drive(route, vin, attributes, presentations)


def _admitted(events: list[Event]) -> list[Event]:
    return [event for event in events if isinstance(event.verdict, Admitted)]


def _sends_to_rework(route: RouteSnapshot, event: Event) -> bool:
    """The admitted route operation ended failed at a gate, or asked for rework."""
    target = route.find(event.operation)
    return isinstance(target, Operation) and (
        event.outcome == "rework" or (event.outcome == "failed" and target.gate)
    )


@PROPERTY
@given(journeys)
def test_admitted_operations_are_in_route_order_except_the_rework_loop(journey: Journey) -> None:
    route, _, events = _played(journey)
    last_index = -1
    sent_back: str | None = None
    """The operation that sent the vehicle to rework, until the vehicle is back at it."""
    reworked = False
    for event in _admitted(events):
        if event.operation == route.rework.operation:
            assert sent_back is not None, "rework bay admitted with no operation sent to rework"
            assert not reworked, "rework bay admitted twice for one loop"
            reworked = event.outcome == "passed"
            continue
        index = route.index(event.operation)
        if sent_back is not None:
            assert reworked, f"{event.operation} admitted before the rework of {sent_back}"
            assert event.operation == sent_back, f"rework returned to {event.operation}"
        else:
            assert index > last_index, f"{event.operation} admitted after step {last_index}"
        last_index = index
        sent_back = event.operation if _sends_to_rework(route, event) else None
        reworked = False


@PROPERTY
@given(journeys)
def test_never_admitted_downstream_of_a_gate_not_passed(journey: Journey) -> None:
    route, attributes, events = _played(journey)
    taken = takes(route, attributes, finds_of(events))
    passed: set[str] = set()
    for event in _admitted(events):
        if event.operation == route.rework.operation:
            continue
        index = route.index(event.operation)
        for op in route.operations[:index]:
            if op.gate and op.operation in taken:
                assert op.operation in passed, f"{event.operation} admitted past {op.operation}"
        if event.outcome == "passed":
            passed.add(event.operation)


@PROPERTY
@given(journeys)
def test_no_admitted_sequence_skips_a_due_operation(journey: Journey) -> None:
    route, attributes, events = _played(journey)
    taken = takes(route, attributes, finds_of(events))
    passed = [e.operation for e in _admitted(events) if e.outcome == "passed"]
    passed_on_route = [name for name in passed if name != route.rework.operation]
    assert passed_on_route == taken[: len(passed_on_route)]
    for event in _admitted(events):
        assert event.operation in [*taken, route.rework.operation]


@PROPERTY
@given(journeys)
def test_every_rejected_presentation_leaves_progress_unchanged(journey: Journey) -> None:
    route, _, events = _played(journey)
    for event in events:
        if isinstance(event.verdict, Admitted):
            continue
        violation: Violation = event.verdict
        assert event.after == event.before
        assert violation.found in (event.operation, route.label)
        assert violation.expected and violation.message
        assert admit(route, event.before, event.operation) == violation
        if event.before is not None:
            try:
                complete(route, event.before, event.operation, event.outcome)
            except RouteError as exc:
                assert violation.message in str(exc)
            else:
                raise AssertionError(f"completed {event.operation} though refused: {violation}")


@PROPERTY
@given(journeys)
def test_rework_is_bounded_and_then_the_vehicle_is_held(journey: Journey) -> None:
    route, _, events = _played(journey)
    sends: dict[str, int] = {}
    for event in _admitted(events):
        assert event.after is not None
        if _sends_to_rework(route, event):
            sends[event.operation] = sends.get(event.operation, 0) + 1
            held = sends[event.operation] > route.rework.max_loops
            assert (event.after.on_hold is not None) == held
            assert event.after.failed_gate == event.operation
    final = events[-1].after if events else None
    if final is not None and final.on_hold is not None:
        for operation in [*route.names(), route.rework.operation]:
            verdict = admit(route, final, operation)
            assert isinstance(verdict, Violation) and verdict.kind == "on_hold"


@PROPERTY
@given(journeys)
def test_every_reachable_progress_is_consistent(journey: Journey) -> None:
    route, _, events = _played(journey)
    for event in events:
        if event.after is not None:
            assert check_progress(route, event.after) == []


@PROPERTY
@given(routes.flatmap(lambda route: st.tuples(st.just(route), vins(), st.just(route.attributes))))
def test_a_vehicle_that_passes_everything_takes_exactly_its_due_operations(
    case: tuple[RouteSnapshot, str, tuple[str, ...]],
) -> None:
    route, vin, names = case
    for attributes in (frozenset(), frozenset(names)):
        progress: Progress = intake(route, vin, attributes)
        taken = []
        while (upcoming := next_operation(route, progress)) is not None:
            assert isinstance(upcoming, Operation) and not isinstance(upcoming, Rework)
            assert isinstance(admit(route, progress, upcoming.operation), Admitted)
            progress = complete(route, progress, upcoming.operation, "passed")
            taken.append(upcoming)
        assert [op.operation for op in taken] == takes(route, attributes)
        assert taken == due_operations(route, attributes)
        assert released(route, progress)


def _due_visit(route: RouteSnapshot, event: Event) -> tuple[str, ...]:
    """What an admission is for: the operation and how many times it had sent the vehicle
    to rework before (each loop makes it due again); for the rework bay, the loop."""
    before = event.before
    if before is None:
        return (event.operation, "0")
    if event.operation == route.rework.operation:
        gate = before.failed_gate or ""
        return (event.operation, gate, str(before.loops(gate)))
    return (event.operation, str(before.loops(event.operation)))


@PROPERTY
@given(journeys)
def test_never_admitted_at_two_stations_of_an_operation_for_one_due_visit(
    journey: Journey,
) -> None:
    """Parallel stations: the vehicle is admitted once per due visit of an operation,
    at whichever of its stations, and every other station of it then refuses it."""
    route, _, events = _played(journey)
    admitted_at: dict[tuple[str, ...], str] = {}
    for event in _admitted(events):
        visit = _due_visit(route, event)
        assert visit not in admitted_at, (
            f"{visit} admitted at {event.station} after {admitted_at[visit]}"
        )
        admitted_at[visit] = event.station
        after = event.after
        if after is not None and after.failed_gate != event.operation:  # not sent to rework
            again = admit(route, after, event.operation)  # at any of its stations
            assert isinstance(again, Violation), f"{event.operation} admitted once more"


@PROPERTY
@given(journeys, st.integers(0, 63), st.booleans())
def test_a_found_attribute_changes_only_the_operations_after_its_finder(
    journey: Journey, pick: int, value: bool
) -> None:
    route, attributes, events = _played(journey)
    if not route.attributes:
        return
    attribute = route.attributes[pick % len(route.attributes)]
    for number, event in enumerate(events):
        progress = event.before
        upcoming = None if progress is None else next_operation(route, progress)
        if progress is None or not isinstance(upcoming, Operation) or progress.on_hold:
            continue
        finder = route.index(upcoming.operation)
        after = find(route, progress, upcoming.operation, attribute, value)
        assert check_progress(route, after) == []
        assert next_operation(route, after) == upcoming
        finds = finds_of(events[:number])
        now = set(takes(route, attributes, finds))
        then = set(takes(route, attributes, [*finds, (upcoming.operation, attribute, value)]))
        due_before = {op.operation for op in progress_due(route, progress)}
        due_after = {op.operation for op in progress_due(route, after)}
        for index, op in enumerate(route.operations):
            name = op.operation
            if index <= finder:
                assert (name in due_after) == (name in due_before) == (name in now)
                assert admit(route, after, name) == admit(route, progress, name)
            else:
                assert (name in due_after) == (name in then)
        passed = complete(route, after, upcoming.operation, "passed")
        rest = [name for name in route.names()[finder + 1 :] if name in then]
        following = next_operation(route, passed)
        assert (following.operation if following else None) == (rest[0] if rest else None)
