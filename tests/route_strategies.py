"""Hypothesis strategies for the route tests: routes, vehicles and journeys.

A route is one of the plant's line files (configs/lines/*.yaml) or a random
valid line: 2-12 operations with increasing steps, a check-in first, a
check-out last, random gates and `when:` conditions over up to 3 attributes,
some operations done at 2 or 3 parallel stations.
A journey is the list of stations a vehicle is presented at, each with the
outcome the station reports and, now and then, an attribute the station finds
on the way; three presentations in four follow the vehicle's next operation
(at any of its stations), so that journeys get far, the others go anywhere.
`drive` plays a journey through the rules and records every presentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from station.config.loader import load_line
from station.config.models import LineFile, Operation, Rework
from station.route import (
    Admitted,
    Outcome,
    Progress,
    RouteSnapshot,
    Violation,
    admit,
    complete,
    find,
    intake,
    next_operation,
)
from station.vin import TRANSLITERATION, check_digit

LINES_DIR = Path(__file__).parent.parent / "configs" / "lines"
CONFIG_LINES = [load_line(path).model for path in sorted(LINES_DIR.glob("*.yaml"))]
VIN_CHARACTERS = sorted(TRANSLITERATION)


@st.composite
def generated_lines(draw: st.DrawFn) -> LineFile:
    attributes = [f"attr_{index}" for index in range(draw(st.integers(0, 3)))]
    conditions = attributes + [f"not {name}" for name in attributes]
    count = draw(st.integers(2, 12))
    steps = sorted(draw(st.sets(st.integers(1, 9999), min_size=count, max_size=count)))
    operations = []
    for index, step in enumerate(steps):
        first, last = index == 0, index == count - 1
        parallel = draw(st.integers(1, 3))
        where: dict[str, object] = (
            {"station": f"station-{index}"}
            if parallel == 1
            else {"stations": [f"station-{index}-{n}" for n in range(parallel)]}
        )
        operations.append(
            {
                "step": step,
                "operation": f"op-{index}",
                **where,
                "kind": "check_in" if first else "check_out" if last else "work",
                "gate": False if first else draw(st.booleans()),
                "when": None
                if first or not conditions
                else draw(st.none() | st.sampled_from(conditions)),
            }
        )
    return LineFile.model_validate(
        {
            "kind": "line",
            "line": draw(st.sampled_from(["line-a", "line-b"])),
            "attributes": {name: f"attribute {name}" for name in attributes},
            "route": {
                "version": draw(st.integers(1, 1_000_000)),
                "operations": operations,
                "rework": {"station": "rework-bay", "max_loops": draw(st.integers(1, 3))},
            },
        }
    )


routes = (st.sampled_from(CONFIG_LINES) | generated_lines()).map(RouteSnapshot.from_line)


@st.composite
def vins(draw: st.DrawFn) -> str:
    """A valid VIN: random characters with the right check digit at position 9."""
    chars = draw(st.lists(st.sampled_from(VIN_CHARACTERS), min_size=17, max_size=17))
    chars[8] = "0"
    chars[8] = check_digit("".join(chars))
    return "".join(chars)


def attribute_sets(route: RouteSnapshot) -> st.SearchStrategy[frozenset[str]]:
    return (
        st.frozensets(st.sampled_from(route.attributes))
        if route.attributes
        else st.just(frozenset())
    )


Presentation = tuple[bool, int, int, int]
"""(follow the next operation, else the station at this index mod n+1, outcome code,
find code: attribute code // 2 is found code % 2 == 1 by an admitted route operation,
when the line has that many attributes)."""
presentations = st.lists(
    st.tuples(
        st.integers(0, 3).map(bool), st.integers(0, 63), st.integers(0, 19), st.integers(0, 31)
    ),
    min_size=10,
    max_size=80,
)

Find = tuple[str, str, bool]
"""(operation that found it, attribute, value)."""


def takes(
    route: RouteSnapshot, attributes: frozenset[str], finds: list[Find] | None = None
) -> list[str]:
    """The operations a vehicle takes, read from the `when:` words and the attributes found
    by operations before each (the last find of an attribute wins), the test's own oracle."""
    names = route.names()
    taken = []
    for index, op in enumerate(route.operations):
        holds = set(attributes)
        for where, attribute, value in finds or []:
            if names.index(where) < index:
                (holds.add if value else holds.discard)(attribute)
        words = (op.when or "").split()
        if not words or (words[-1] in holds) == (len(words) == 1):
            taken.append(op.operation)
    return taken


def outcome_for(target: Operation | Rework, code: int) -> Outcome:
    """A gate fails 30 % of the time; elsewhere 5 % fail and 5 % ask for rework."""
    if isinstance(target, Operation) and target.gate:
        return "failed" if code < 6 else "passed"
    if code == 0:
        return "failed"
    if code == 1 and isinstance(target, Operation):
        return "rework"
    return "passed"


@dataclass(frozen=True)
class Event:
    """One presentation of the vehicle at a station and what the rules made of it."""

    station: str
    operation: str
    outcome: Outcome
    before: Progress | None
    verdict: Admitted | Violation
    after: Progress | None
    found: tuple[str, bool] | None = None
    """The attribute the station found (and its value) before completing, if any."""


def stations(route: RouteSnapshot) -> list[tuple[str, str]]:
    """(station, its operation) for every station of the route, the rework bay last."""
    pairs = [(name, op.operation) for op in route.operations for name in op.served_by]
    return [*pairs, (route.rework.station, route.rework.operation)]


def station_at(
    route: RouteSnapshot, progress: Progress | None, follow: bool, index: int
) -> tuple[str, str]:
    """The station the vehicle is presented at, and its operation."""
    if follow:
        upcoming = route.operations[0] if progress is None else next_operation(route, progress)
        if isinstance(upcoming, Operation):
            return upcoming.served_by[index % len(upcoming.served_by)], upcoming.operation
        if isinstance(upcoming, Rework):
            return upcoming.station, upcoming.operation
    every = stations(route)
    return every[index % len(every)]


def drive(
    route: RouteSnapshot, vin: str, attributes: frozenset[str], journey: list[Presentation]
) -> list[Event]:
    """Present the vehicle as the journey says; the station completes what it admits."""
    events = []
    progress: Progress | None = None
    for follow, index, code, find_code in journey:
        station, operation = station_at(route, progress, follow, index)
        outcome = outcome_for(route.find(operation), code)
        before = progress
        verdict = admit(route, progress, operation)
        found = None
        if isinstance(verdict, Admitted):
            started = intake(route, vin, attributes) if progress is None else progress
            if find_code < 2 * len(route.attributes) and operation != route.rework.operation:
                found = (route.attributes[find_code // 2], bool(find_code % 2))
                started = find(route, started, operation, *found)
            progress = complete(route, started, operation, outcome)
        events.append(Event(station, operation, outcome, before, verdict, progress, found))
    return events


def finds_of(events: list[Event]) -> list[Find]:
    """What the stations found along a played journey, in order."""
    return [(e.operation, *e.found) for e in events if e.found is not None]


journeys = routes.flatmap(
    lambda route: st.tuples(st.just(route), vins(), attribute_sets(route), presentations)
)
"""(route, VIN, attributes, presentations)."""
