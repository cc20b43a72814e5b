"""The route rules: no turning back, nothing past a gate it has not passed.

The rules, in plain words:

- A line's route is an ordered list of operations, each done at one station or at
  any of several parallel ones (two photo studios): the rules speak of operations,
  so a vehicle due at an operation is accepted at every station of it, and nowhere
  once it is done. An operation with `when:` is due only for vehicles whose
  attribute holds (`when: ev`) or not (`when: not ev`); every other one is due.
- An attribute may also be found on the way (`find`): the station doing an
  operation says the attribute is true (or false) for this vehicle, e.g.
  diagnosis finds body damage, `needs_bodywork`. A found attribute changes
  only the operations after the one that found it (`attributes_at`): what is
  done, skipped or due up to there stays as it was.
- A vehicle enters the line at the route's first operation (the check-in):
  that is where its progress is created (`intake`), with the route's
  version and hash frozen into it. A vehicle without progress anywhere else
  is an `unknown_vehicle`.
- A station accepts (`admit`) a vehicle only at the vehicle's next
  operation: the first due operation it has not done. Presented upstream
  of it, at an operation already done, or at a gate already passed, it is
  `turning_back`; presented downstream, it is `skipped_gate` when a due
  gate between is not passed, else `skipped_operation`.
- A gate that fails sends the vehicle to the rework bay; nothing else is
  accepted until the bay has reworked it, and then the gate that failed is
  its next operation again, never anything upstream. A gate may send the
  same vehicle to rework `rework.max_loops` times; one more fail holds the
  vehicle for a supervisor (`on_hold`), and a held vehicle is accepted
  nowhere.
- A vehicle whose frozen route (version and hash) is not the station's route is
  refused as `route_changed`, rather than guessed on a route the station does not know.
- Every refusal is a `Violation` naming its kind, what was expected (the
  vehicle's next operation, or its route) and what was found (the
  operation presented, or the station's route), with a one-line message.

Outcomes of an operation (`complete`):

- `passed`: the operation is done; a gate is passed. At the rework bay: the
  repair is done and the vehicle goes back to the operation that sent it.
- `failed`: at a gate, the verdict is a fail: the vehicle goes to the
  rework bay (or is held once its loops at that gate are used up).
  Anywhere else (a work operation, the check-in, the check-out, the
  rework bay itself) the operation could not be done: the vehicle is held
  for a supervisor.
- `rework`: the station sends the vehicle to the rework bay without a
  verdict (a work station found damage it cannot repair in line; at a gate
  it is the same as `failed`). The operation is not done, the rework bay
  returns the vehicle to it, and the loops are counted and bounded exactly
  as for a failed gate. It is not an outcome of the rework bay.

Boundary: pure functions over immutable values (a route snapshot, a vehicle's
progress, an operation name). No I/O, no clock, nothing from `hal/` or `simulators/`;
the runtime journals what they return and `station.tag` puts progress on the tag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from typing import Literal, get_args

from station.config.checks import check_line
from station.config.loader import format_path
from station.config.models import LineFile, Operation, Rework
from station.vin import parse_vin

Outcome = Literal["passed", "failed", "rework"]
ViolationKind = Literal[
    "turning_back",
    "skipped_gate",
    "skipped_operation",
    "unknown_vehicle",
    "route_changed",
    "on_hold",
]
HoldCause = Literal["rework_exhausted", "failed"]
RELEASED = "released"
"""`Violation.expected` for a vehicle that has no operation left."""
SUPERVISOR = "supervisor"
"""`Violation.expected` for a held vehicle: a supervisor's decision."""
HASH_HEX = 16
"""Hex characters of the route hash (8 bytes of sha256)."""


class RouteError(ValueError):
    """The rules were asked something that cannot be answered: an operation the
    route does not have, an attribute it does not declare, completing an
    operation the vehicle was not admitted to."""


@dataclass(frozen=True)
class RouteSnapshot:
    """A line's route as frozen into each vehicle at intake."""

    line: str
    version: int
    hash: str
    """sha256 (first 16 hex chars) of the line name, the operations (without their
    descriptions and stations), the rework bay (without its station) and the attribute
    names: what the rules decide on. Which stations do an operation is not in it, so
    adding a parallel station (or moving an operation to another one) keeps the hash,
    and the vehicles on the line keep being accepted."""
    operations: tuple[Operation, ...]
    rework: Rework
    attributes: tuple[str, ...]
    """Attribute names `when:` may use, in declaration order (their bit order on the tag)."""

    @classmethod
    def from_line(cls, line: LineFile) -> RouteSnapshot:
        """Snapshot a line; raise RouteError if the route breaks a rule of `check_line`."""
        problems = check_line(line)
        if problems:
            details = "; ".join(f"{format_path(loc)}: {message}" for loc, message in problems)
            raise RouteError(f"line {line.line}: {details}")
        route = line.route
        attributes = tuple(line.attributes)
        canonical = {
            "line": line.line,
            "operations": [
                op.model_dump(mode="json", exclude={"description", "station", "stations"})
                for op in route.operations
            ],
            "rework": route.rework.model_dump(mode="json", exclude={"station"}),
            "attributes": list(attributes),
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()[:HASH_HEX]
        return cls(
            line.line, route.version, digest, tuple(route.operations), route.rework, attributes
        )

    @property
    def label(self) -> str:
        """`v3 #0123456789abcdef`: how a route is named in violations and listings."""
        return route_label(self.version, self.hash)

    def index(self, operation: str) -> int:
        """Position of a route operation (not the rework bay); RouteError if unknown."""
        for index, op in enumerate(self.operations):
            if op.operation == operation:
                return index
        raise RouteError(
            f"operation {operation!r} is not on route {self.line} {self.label} "
            f"(operations: {', '.join(self.names())}, rework: {self.rework.operation})"
        )

    def find(self, operation: str) -> Operation | Rework:
        """The route operation or the rework bay named `operation`; RouteError if unknown."""
        if operation == self.rework.operation:
            return self.rework
        return self.operations[self.index(operation)]

    def names(self) -> list[str]:
        """Operation ids in route order."""
        return [op.operation for op in self.operations]


def route_label(version: int, route_hash: str) -> str:
    return f"v{version} #{route_hash}"


@dataclass(frozen=True)
class Hold:
    """Why a vehicle waits for a supervisor, and at which operation."""

    cause: HoldCause
    operation: str

    @property
    def reason(self) -> str:
        if self.cause == "rework_exhausted":
            return f"rework loops used up at {self.operation}: a supervisor decides"
        return f"{self.operation} failed: a supervisor decides"

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Found:
    """An attribute a station found on the way: from the operation after `operation`
    on, `attribute` is `value` for this vehicle."""

    attribute: str
    value: bool
    operation: str
    """The route operation whose station found it."""


@dataclass(frozen=True)
class Progress:
    """Where one vehicle is on its route. Immutable: every rule returns a new one.

    `seq` counts the writes of this progress to the vehicle's tag: the
    station's write-tag step calls `next_write()` before encoding, so a
    reader can tell the newest copy; the route rules never change it.
    """

    vin: str
    route_version: int
    route_hash: str
    attributes: frozenset[str] = frozenset()
    """Attribute names that hold for this vehicle at intake (never changed: `found`
    holds what the stations found since)."""
    done: tuple[str, ...] = ()
    """Route operations completed, in route order."""
    gates_passed: tuple[str, ...] = ()
    """Gates among `done`, in route order."""
    failed_gate: str | None = None
    """Operation awaiting the rework bay: a failed gate, or a station that asked for rework."""
    rework_loops: tuple[tuple[str, int], ...] = ()
    """(operation, times sent to rework), in route order, only for operations sent at least once."""
    on_hold: Hold | None = None
    """Why the vehicle waits for a supervisor; None when it may move on."""
    found: tuple[Found, ...] = ()
    """Attributes found on the way, in route order of the operation that found them
    (then in the line's attribute order); one per (attribute, operation)."""
    seq: int = 0

    def loops(self, operation: str) -> int:
        """Times this operation sent the vehicle to the rework bay."""
        return dict(self.rework_loops).get(operation, 0)

    def next_write(self) -> Progress:
        """This progress with the tag write counter advanced, for the next tag write."""
        return replace(self, seq=self.seq + 1)


@dataclass(frozen=True)
class Admitted:
    """The station may take the vehicle for this operation."""

    operation: Operation | Rework


@dataclass(frozen=True)
class Violation:
    """A refused presentation: what kind, what was expected, what was found."""

    kind: ViolationKind
    expected: str
    found: str
    message: str


def is_due(operation: Operation, attributes: Set[str]) -> bool:
    """Whether a vehicle with these attributes must do this operation."""
    if operation.when is None:
        return True
    name = operation.when.removeprefix("not ")
    return (name in attributes) != operation.when.startswith("not ")


Attributes = Collection[str] | Mapping[str, bool]
"""A vehicle's attributes: the names that hold, or every name with its value."""


def check_attributes(route: RouteSnapshot, attributes: Attributes) -> frozenset[str]:
    """The names of the attributes that hold; RouteError naming any the line does not declare."""
    unknown = sorted(set(attributes) - set(route.attributes))
    if unknown:
        known = ", ".join(route.attributes) or "none"
        raise RouteError(
            f"line {route.line} declares no attribute {', '.join(map(repr, unknown))} "
            f"(attributes: {known})"
        )
    if isinstance(attributes, Mapping):
        return frozenset(name for name, value in attributes.items() if value)
    return frozenset(attributes)


def attributes_at(
    route: RouteSnapshot, attributes: frozenset[str], found: Sequence[Found], index: int
) -> frozenset[str]:
    """The attributes that hold for the route operation at `index`: those of intake,
    changed by each attribute found at an operation before `index`, in route order."""
    names = set(attributes)
    for entry in found:
        if route.index(entry.operation) < index:
            (names.add if entry.value else names.discard)(entry.attribute)
    return frozenset(names)


def due_operations(
    route: RouteSnapshot, attributes: Attributes, found: Sequence[Found] = ()
) -> list[Operation]:
    """The operations a vehicle with these attributes at intake, and these found on the
    way, takes, in route order."""
    names = check_attributes(route, attributes)
    check_attributes(route, [entry.attribute for entry in found])
    return [
        op
        for index, op in enumerate(route.operations)
        if is_due(op, attributes_at(route, names, found, index))
    ]


def progress_due(route: RouteSnapshot, progress: Progress) -> list[Operation]:
    """The operations this vehicle takes, by its attributes and those found so far."""
    return due_operations(route, progress.attributes, progress.found)


def intake(route: RouteSnapshot, vin: str, attributes: Attributes) -> Progress:
    """New progress for a vehicle at check-in, the route frozen into it; nothing done yet.

    The check-in operation itself is then admitted and completed like any other.
    Raises VinError for an invalid VIN and RouteError for an undeclared attribute.
    """
    return Progress(
        vin=parse_vin(vin).value,
        route_version=route.version,
        route_hash=route.hash,
        attributes=check_attributes(route, attributes),
    )


def next_operation(route: RouteSnapshot, progress: Progress) -> Operation | Rework | None:
    """What the vehicle must do next; None when every due operation is done.

    A held vehicle's next operation is the one it would take once a supervisor
    lets it go on; `admit` refuses it everywhere meanwhile.
    """
    if progress.failed_gate is not None:
        return route.rework
    for op in progress_due(route, progress):
        if op.operation not in progress.done:
            return op
    return None


def released(route: RouteSnapshot, progress: Progress) -> bool:
    """The vehicle has done every due operation, the check-out last."""
    return next_operation(route, progress) is None


def route_changed(route: RouteSnapshot, vin: str, version: int, route_hash: str) -> Violation:
    """The refusal of a vehicle whose frozen route (version, hash) is not this station's."""
    frozen = route_label(version, route_hash)
    return Violation(
        "route_changed",
        expected=frozen,
        found=route.label,
        message=(
            f"{vin}: route changed: the vehicle was checked in under route {frozen}, "
            f"this station runs line {route.line} {route.label}"
        ),
    )


def _describe(target: Operation | Rework) -> str:
    if isinstance(target, Rework):
        return f"{target.operation} (rework bay {target.station})"
    stations = target.served_by
    where = f"station {stations[0]}" if len(stations) == 1 else f"stations {', '.join(stations)}"
    return f"{target.operation} (step {target.step}, {where})"


def admit(route: RouteSnapshot, progress: Progress | None, operation: str) -> Admitted | Violation:
    """Whether the station doing `operation` may take this vehicle (None: no progress known).

    Raises RouteError only for an operation the route does not have.
    """
    target = route.find(operation)
    if progress is None:
        first = route.operations[0]
        if operation == first.operation:
            return Admitted(first)
        return Violation(
            "unknown_vehicle",
            expected=first.operation,
            found=operation,
            message=(
                f"unknown vehicle: no progress known at {_describe(target)}; "
                f"vehicles enter the line at {_describe(first)}"
            ),
        )
    vin = progress.vin
    if (progress.route_version, progress.route_hash) != (route.version, route.hash):
        return route_changed(route, vin, progress.route_version, progress.route_hash)
    if progress.on_hold is not None:
        return Violation(
            "on_hold",
            expected=SUPERVISOR,
            found=operation,
            message=f"{vin}: on hold ({progress.on_hold.reason}); refused at {_describe(target)}",
        )
    upcoming = next_operation(route, progress)
    if upcoming is None:
        return Violation(
            "turning_back",
            expected=RELEASED,
            found=operation,
            message=f"{vin}: turning back: released, it has no operation left, "
            f"yet is presented at {_describe(target)}",
        )
    if upcoming.operation == operation:
        return Admitted(target)
    expected = upcoming.operation
    wanted = f"its next operation is {_describe(upcoming)}"
    if isinstance(target, Rework):
        return Violation(
            "skipped_operation",
            expected=expected,
            found=operation,
            message=f"{vin}: skipped operation: at the rework bay with nothing to rework; {wanted}",
        )
    anchor = route.index(progress.failed_gate or expected)
    at = route.index(operation)
    due = progress_due(route, progress)
    if at < anchor:
        not_due = "" if target in due else f" (not due: when {target.when})"
        return Violation(
            "turning_back",
            expected=expected,
            found=operation,
            message=f"{vin}: turning back: {_describe(target)}{not_due} is upstream; {wanted}",
        )
    if at == anchor:
        return Violation(
            "skipped_operation",
            expected=expected,
            found=operation,
            message=f"{vin}: skipped operation: back at {operation} before its rework; {wanted}",
        )
    for op in route.operations[anchor:at]:
        if op.gate and op in due:
            return Violation(
                "skipped_gate",
                expected=expected,
                found=operation,
                message=f"{vin}: skipped gate: {_describe(target)} is past gate "
                f"{op.operation} (step {op.step}), not passed; {wanted}",
            )
    return Violation(
        "skipped_operation",
        expected=expected,
        found=operation,
        message=f"{vin}: skipped operation: {_describe(target)} would skip {wanted}",
    )


def find(
    route: RouteSnapshot, progress: Progress, operation: str, attribute: str, value: bool
) -> Progress:
    """The vehicle's progress once the station doing `operation` found `attribute` to be
    `value`: it applies to the operations after `operation` only. Found again at the same
    operation (a later visit), the newer value replaces the older.

    Raises RouteError for an undeclared attribute, the rework bay (it has no place on the
    route to find from), or an operation the vehicle is not admitted to.
    """
    check_attributes(route, [attribute])
    verdict = admit(route, progress, operation)
    if isinstance(verdict, Violation):
        raise RouteError(f"cannot find {attribute} at {operation}: {verdict.message}")
    if isinstance(verdict.operation, Rework):
        raise RouteError(f"the rework bay finds no attribute ({attribute}): route operations do")
    kept = [f for f in progress.found if (f.attribute, f.operation) != (attribute, operation)]
    entries = sorted(
        [*kept, Found(attribute, value, operation)],
        key=lambda f: (route.index(f.operation), route.attributes.index(f.attribute)),
    )
    return replace(progress, found=tuple(entries))


def complete(
    route: RouteSnapshot, progress: Progress, operation: str, outcome: Outcome
) -> Progress:
    """The vehicle's progress after `operation` ended with `outcome` (see the module docstring).

    Raises RouteError when the vehicle was not admitted to `operation`, or for
    an outcome the operation cannot have.
    """
    if outcome not in get_args(Outcome):
        raise RouteError(f"outcome must be one of {', '.join(get_args(Outcome))} (got {outcome!r})")
    verdict = admit(route, progress, operation)
    if isinstance(verdict, Violation):
        raise RouteError(f"cannot complete {operation}: {verdict.message}")
    target = verdict.operation
    if isinstance(target, Rework):
        if outcome == "rework":
            raise RouteError(
                f"the rework bay cannot send {progress.vin} to itself: passed or failed"
            )
        if outcome == "failed":
            return replace(progress, on_hold=Hold("failed", operation))
        return replace(progress, failed_gate=None)
    if outcome == "passed":
        gates = (*progress.gates_passed, operation) if target.gate else progress.gates_passed
        return replace(progress, done=(*progress.done, operation), gates_passed=gates)
    if outcome == "failed" and not target.gate:
        return replace(progress, on_hold=Hold("failed", operation))
    loops = progress.loops(operation)
    if loops >= route.rework.max_loops:
        return replace(progress, failed_gate=operation, on_hold=Hold("rework_exhausted", operation))
    counts = dict(progress.rework_loops) | {operation: loops + 1}
    ordered = tuple((name, counts[name]) for name in route.names() if name in counts)
    return replace(progress, failed_gate=operation, rework_loops=ordered)
