"""Scenario files (docs/cli.md): vehicles, what happens to them, and misroutes.

The same scenario drives tests, demos and benches: `station run --simulate
--scenario` feeds one station, `station line --scenario` a whole line. A
scenario describes the world (vehicles, verdicts, faults, people's answers),
never the controller's decisions: those are what the run shows.

Both commands check a scenario the same way before anything starts
(`check_scenario`): what the file's format allows but the line cannot run (a
VIN no reader would read, a gate or a station the line lacks, a fault at a
station without the device it acts on, a misroute of a vehicle the scenario
does not have) is refused, each problem located like the config loader's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from hal.config import Camera, Name, Section
from station.config.loader import ConfigIssue, LoadedLine, LoadedStation, format_path, load_document
from station.config.models import (
    FindAttributesStep,
    FoundAttribute,
    InspectStep,
    MeasureStep,
    Quantity,
    StationFile,
)
from station.config.names import Slug
from station.limits import physical_problem
from station.route import RouteError, RouteSnapshot, check_attributes
from station.vin import VinError, parse_vin

FaultKind = Literal[
    "barcode_noread",
    "barcode_garbage",
    "rfid_notag",
    "rfid_multi",
    "rfid_write_fail",
    "plc_link_drop",
    "modbus_exception",
    "turntable_stall",
    "camera_silent",
    "inspection_timeout",
    "inspection_bad_measurement",
    "label_mismatch",
    "tester_no_ready",
    "tester_out_of_range",
    "tester_link_drop",
]

FAULT_DRIVERS: dict[FaultKind, str] = {
    "barcode_noread": "keyence_sr",
    "barcode_garbage": "keyence_sr",
    "label_mismatch": "keyence_sr",
    "rfid_notag": "balluff_bis",
    "rfid_multi": "balluff_bis",
    "rfid_write_fail": "balluff_bis",
    "plc_link_drop": "modbus_plc",
    "modbus_exception": "modbus_plc",
    "turntable_stall": "modbus_turntable",
    "camera_silent": "studio_cameras",
    "inspection_timeout": "opcua",
    "inspection_bad_measurement": "opcua",
    "tester_no_ready": "modbus_battery_tester",
    "tester_out_of_range": "modbus_battery_tester",
    "tester_link_drop": "modbus_battery_tester",
}
"""The `driver:` of the device each fault kind acts on: a station without one would
never see the fault."""

Loc = tuple[str | int, ...]
LABEL_MAX = 64
"""Characters of a scenario's label at most (a reader's line is longer)."""

MeasuredNumber = Annotated[float, Field(ge=-1e9, le=1e9)]


class ScenarioFault(Section):
    """A fault injected while the vehicle is at a station."""

    station: Slug
    """Station where it happens."""
    kind: FaultKind
    """What happens."""
    count: int = Field(default=1, ge=1, le=100)
    """How many times (no-reads, failed writes, tester measurements without a ready bit or
    with an out-of-range value, images a silent camera does not take, reads of an
    inspection system's measurement node)."""
    seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    """Duration of a link drop (real seconds: --fast does not shrink it); for
    `tester_link_drop`, the link drops at the next start command for that long."""
    at_deg: float = Field(default=180.0, ge=0.0, le=360.0)
    """Angle of a turntable stall."""
    code: int = Field(default=4, ge=1, le=11)
    """Modbus exception code."""
    camera: Camera = "exterior"
    """The camera of `camera_silent`."""


class ScenarioFinding(Section):
    """A defect found at a gate: given by the inspection system, or typed by the
    inspector (then its code must be in the station's catalogue, whose severity and text
    are the ones journaled)."""

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", min_length=1, max_length=24)
    """Defect code, e.g. 1.1.13."""
    severity: Literal["minor", "major", "critical"] = "major"
    """Severity the inspection system gives (a typed code has its catalogue's)."""
    text: str = Field(default="", max_length=10_000)
    """What the inspection system says of it (a typed code has its catalogue's text); the
    station keeps at most 200 characters of it."""


class ScenarioVehicle(Section):
    """One vehicle and what happens to it."""

    vin: str = Field(min_length=17, max_length=17)
    """The vehicle's VIN (17 characters)."""
    model: str = ""
    """Make and model, shown on the console."""
    ev: bool = False
    """Takes the EV-only operations."""
    attributes: dict[str, bool] = Field(default_factory=dict)
    """Other vehicle attributes, e.g. needs_bodywork."""
    verdicts: dict[Slug, list[Literal["pass", "fail"]]] = Field(default_factory=dict)
    """Per gate operation, the verdicts it gets, consumed in order (default pass)."""
    measurements: dict[Slug, list[dict[Name, MeasuredNumber]]] = Field(default_factory=dict)
    """Per operation, per visit in order, the values its measure steps get by quantity name
    (from the device, or typed by the inspector); a quantity absent, or a visit past the
    list, gets a value within its limits."""
    findings: dict[Slug, list[list[ScenarioFinding]]] = Field(default_factory=dict)
    """Per gate operation, per visit in order, the defects found (from its inspection
    system, or typed by its inspector); a visit past the list has none."""
    found: dict[Slug, dict[Name, bool]] = Field(default_factory=dict)
    """Per route operation, the attributes its station finds on the way with their values
    (its person answers yes to the find_attributes question; no to the others), e.g.
    `diagnosis: {needs_bodywork: true}`."""
    faults: list[ScenarioFault] = Field(default_factory=list)
    """Faults injected while this vehicle is at a station."""
    manual_vin: bool = True
    """After a final no-read the operator types the VIN."""
    label: str | None = Field(
        default=None, min_length=1, max_length=LABEL_MAX, pattern=r"^[\x20-\x2b\x2d-\x7e]+$"
    )
    """What the barcode on the windscreen label reads, when it is not the VIN (printable
    ASCII without a comma): a damaged, foreign or hostile label. A read that is not a VIN
    is refused by the station (`vin_rejected`, journaled with the code) at every attempt;
    at the check-in the operator then types the VIN (`manual_vin`), further on the tag
    tells it."""

    def true_attributes(self) -> frozenset[str]:
        names = {name for name, value in self.attributes.items() if value}
        return frozenset(names | ({"ev"} if self.ev else set()))


class Misroute(Section):
    """A vehicle physically presented at a wrong station."""

    vin: str = Field(min_length=17, max_length=17)
    """Which vehicle."""
    station: Slug
    """Station it is wrongly presented at."""
    after: Slug
    """Operation after which it happens."""


class Scenario(Section):
    """Vehicles in arrival order, and misroutes."""

    vehicles: list[ScenarioVehicle] = Field(min_length=1, max_length=100_000)
    """Vehicles, in the order they arrive."""
    misroutes: list[Misroute] = Field(default_factory=list)
    """Wrong presentations."""
    takt_s: float = Field(default=0.0, ge=0.0, le=86_400.0)
    """Time between arrivals at the first station (0: as soon as it is free)."""


def load_scenario(path: Path | str) -> Scenario:
    """Load a scenario file; ConfigError with located errors when it is wrong."""
    return load_document(path, Scenario)


def check_scenario(
    scenario: Scenario,
    line: LoadedLine,
    stations: Mapping[str, LoadedStation],
    source: Path | str,
) -> list[str]:
    """What in `scenario` the line cannot run, one line a problem (none: it can).

    `stations` are the station files known by name (all of the line's for `station
    line`, the station's own for `station run`): a fault at one of them needs its
    device; a fault at another station of the line is taken on trust. `source` is the
    scenario file (problems as `FILE:LINE: PATH: MESSAGE`) or what generated it
    (`SOURCE: PATH: MESSAGE`).
    """
    problems = list(_problems(scenario, line, stations))
    if not problems or not isinstance(source, Path):
        return [f"{source}: {format_path(loc)}: {message}" for loc, message in problems]
    root = _yaml_root(source)
    return [
        str(ConfigIssue(str(source), _line_of(root, loc), format_path(loc), message))
        for loc, message in problems
    ]


def _problems(
    scenario: Scenario, line: LoadedLine, stations: Mapping[str, LoadedStation]
) -> Iterator[tuple[Loc, str]]:
    route = RouteSnapshot.from_line(line.model)
    name = line.model.line
    on_line = [*dict.fromkeys(s for op in route.operations for s in op.served_by)]
    on_line.append(route.rework.station)
    gates = [op.operation for op in route.operations if op.gate]
    seen: dict[str, int] = {}
    for index, vehicle in enumerate(scenario.vehicles):
        at: Loc = ("vehicles", index)
        yield from _vin_problems(vehicle.vin, (*at, "vin"))
        if vehicle.label is not None and _reads_as_vin(vehicle.label):
            yield (
                (*at, "label"),
                f"{vehicle.label!r} reads as a VIN: a label is for a code the station refuses "
                "(a swapped label is the fault label_mismatch)",
            )
        if vehicle.vin in seen:
            yield (*at, "vin"), f"{vehicle.vin} is also vehicles[{seen[vehicle.vin]}]"
        seen.setdefault(vehicle.vin, index)
        try:
            check_attributes(route, vehicle.true_attributes())
        except RouteError as exc:
            yield (*at, "attributes"), str(exc)
        for gate in vehicle.verdicts:
            if gate not in gates:
                yield (
                    (*at, "verdicts", gate),
                    f"not a gate of line {name} (gates: {', '.join(sorted(gates))})",
                )
        yield from _measurement_problems(vehicle, line, stations, at)
        yield from _finding_problems(vehicle, gates, stations, route, at)
        yield from _found_problems(vehicle, stations, route, at)
        for number, fault in enumerate(vehicle.faults):
            where: Loc = (*at, "faults", number)
            if fault.station not in on_line:
                yield (*where, "station"), _not_on_line(fault.station, name, on_line)
            elif fault.station in stations:
                yield from _device_problems(fault, stations[fault.station], where)
    misrouted: set[str] = set()
    for index, misroute in enumerate(scenario.misroutes):
        at = ("misroutes", index)
        if misroute.vin not in seen:
            yield (*at, "vin"), f"{misroute.vin} is not a vehicle of the scenario"
        if misroute.vin in misrouted:
            yield (*at, "vin"), f"{misroute.vin} is misrouted twice (one per vehicle)"
        misrouted.add(misroute.vin)
        if misroute.station not in on_line:
            yield (*at, "station"), _not_on_line(misroute.station, name, on_line)
        if misroute.after not in route.names():
            yield (
                (*at, "after"),
                (
                    f"no operation {misroute.after!r} on the route of line {name} "
                    f"(operations: {', '.join(route.names())})"
                ),
            )


def _measurement_problems(
    vehicle: ScenarioVehicle, line: LoadedLine, stations: Mapping[str, LoadedStation], at: Loc
) -> Iterator[tuple[Loc, str]]:
    """Measurements name an operation of the line and, at a station whose file is known
    (the first of parallel ones), quantities its measure steps have."""
    route = RouteSnapshot.from_line(line.model)
    by_operation = {op.operation: op.served_by[0] for op in route.operations}
    by_operation[route.rework.operation] = route.rework.station
    for operation, visits in vehicle.measurements.items():
        where: Loc = (*at, "measurements", operation)
        station = by_operation.get(operation)
        if station is None:
            known = ", ".join(route.names())
            yield (
                where,
                f"no operation {operation!r} on line {line.model.line} (operations: {known})",
            )
            continue
        if station not in stations:
            continue  # a station of the line whose file is not loaded: taken on trust
        quantities = measured_quantities(stations[station].model)
        for number, values in enumerate(visits):
            for name, value in values.items():
                quantity = quantities.get(name)
                if quantity is None:
                    known = ", ".join(quantities) or "none"
                    yield (
                        (*where, number, name),
                        f"station {station} measures no {name!r} (quantities: {known})",
                    )
                elif (problem := physical_problem(value, quantity)) is not None:
                    yield (*where, number, name), problem


def measured_quantities(station: StationFile) -> dict[str, Quantity]:
    """Every quantity the station's steps measure (measure steps, and the inspect steps
    whose device's result has them), by name."""
    return {
        name: quantity
        for step in station.cycle
        if isinstance(step, MeasureStep | InspectStep)
        for name, quantity in step.quantities.items()
    }


def _not_on_line(station: str, line: str, on_line: Sequence[str]) -> str:
    return f"no station {station!r} on line {line} (stations: {', '.join(on_line)})"


def _reads_as_vin(code: str) -> bool:
    try:
        parse_vin(code)
    except VinError:
        return False
    return True


def _vin_problems(vin: str, at: Loc) -> Iterator[tuple[Loc, str]]:
    """A scenario's VIN is what a reader reads off the label: valid and as written."""
    try:
        read = parse_vin(vin).value
    except VinError as exc:
        yield at, str(exc)
        return
    if read != vin:
        yield at, f"{vin!r} is read as {read!r}: write it so (capitals, no spaces or *)"


def _device_problems(
    fault: ScenarioFault, station: LoadedStation, at: Loc
) -> Iterator[tuple[Loc, str]]:
    driver = FAULT_DRIVERS[fault.kind]
    drivers = {device.driver for device in station.model.devices.values()}
    if driver not in drivers:
        yield (
            (*at, "kind"),
            (
                f"{fault.kind} acts on a `driver: {driver}` device, and station {fault.station} "
                f"({station.path}) has none: the fault would never happen"
            ),
        )


def _yaml_root(path: Path) -> Any:
    """The file's YAML nodes with their positions (None if it no longer parses)."""
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None


def _line_of(root: Any, loc: Loc) -> int:
    """The line (1-based) of the deepest part of `loc` found in the YAML nodes."""
    node, line = root, 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            position = node.lc.data.get(part)  # None for a key merged in by `<<: *name`
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            position = node.lc.data.get(part)
            node = node[part]
        else:
            break
        if position is not None:
            line = position[0] + 1
    return line


def _finding_problems(
    vehicle: ScenarioVehicle,
    gates: Collection[str],
    stations: Mapping[str, LoadedStation],
    route: RouteSnapshot,
    at: Loc,
) -> Iterator[tuple[Loc, str]]:
    """Findings name a gate; a code its inspector types is in the station's catalogue
    (the first station of a gate done at parallel ones)."""
    by_operation = {op.operation: op.served_by[0] for op in route.operations}
    for gate, visits in vehicle.findings.items():
        where: Loc = (*at, "findings", gate)
        if gate not in gates:
            yield where, f"not a gate of the line (gates: {', '.join(sorted(gates))})"
            continue
        loaded = stations.get(by_operation[gate])
        if loaded is None or not typed_findings(loaded.model):
            continue
        catalogue = loaded.model.findings
        for number, found in enumerate(visits):
            for item, finding in enumerate(found):
                if finding.code not in catalogue:
                    yield (
                        (*where, number, item, "code"),
                        f"{finding.code!r} is not in the catalogue of station "
                        f"{loaded.model.station} (codes: {', '.join(catalogue)})",
                    )


def _found_problems(
    vehicle: ScenarioVehicle, stations: Mapping[str, LoadedStation], route: RouteSnapshot, at: Loc
) -> Iterator[tuple[Loc, str]]:
    """Attributes found name a route operation and attributes of the line; at a station
    whose file is known, one its find_attributes steps ask, with the value a yes sets."""
    by_operation = {op.operation: op.served_by[0] for op in route.operations}
    for operation, attributes in vehicle.found.items():
        where: Loc = (*at, "found", operation)
        if operation not in by_operation:
            yield where, f"no route operation {operation!r} (operations: {', '.join(by_operation)})"
            continue
        loaded = stations.get(by_operation[operation])
        asked = {} if loaded is None else found_questions(loaded.model)
        for name, value in attributes.items():
            if name not in route.attributes:
                known = ", ".join(route.attributes) or "none"
                yield (
                    (*where, name),
                    f"the line declares no attribute {name!r} (attributes: {known})",
                )
            elif loaded is not None and name not in asked:
                yield (
                    (*where, name),
                    f"station {loaded.model.station} finds no {name!r}: no find_attributes step "
                    f"asks it (asked: {', '.join(asked) or 'none'})",
                )
            elif loaded is not None and asked[name].value != value:
                yield (
                    (*where, name),
                    f"station {loaded.model.station} can only find {name}: "
                    f"{str(asked[name].value).lower()}",
                )


def found_questions(station: StationFile) -> dict[str, FoundAttribute]:
    """The attributes the station's find_attributes steps ask about, by name."""
    return {
        name: rule
        for step in station.cycle
        if isinstance(step, FindAttributesStep)
        for name, rule in step.attributes.items()
    }


def typed_findings(station: StationFile) -> bool:
    """Whether the station's inspector types findings (an inspect step asks for them)."""
    return any(isinstance(step, InspectStep) and step.ask_findings for step in station.cycle)


def findings_fail(station: StationFile, found: Sequence[ScenarioFinding]) -> bool:
    """Whether these findings fail the station's gate: a severity in an inspect step's
    `fail_on` (a typed code has its catalogue's severity)."""
    for step in station.cycle:
        if not isinstance(step, InspectStep):
            continue
        for finding in found:
            entry = station.findings.get(finding.code) if step.ask_findings else None
            if (entry.severity if entry else finding.severity) in step.fail_on:
                return True
    return False
