"""Rules that relate several fields or files of the configuration.

Each rule returns `(path, message)` pairs; the loader turns the path into the
file's line. A rule never stops at the first problem: the engineer gets every
error of a file at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from hal.config import ModbusBatteryTesterConfig, ModbusPlcConfig, OpcUaDeviceConfig
from station.config.models import (
    FindAttributesStep,
    IdentifyStep,
    InspectStep,
    LineFile,
    MeasureStep,
    ReleaseStep,
    SetOutputsStep,
    StationFile,
    TurntableSweepStep,
    VerifyRouteStep,
    WaitInputStep,
    WriteTagStep,
)
from station.device_types import DEVICE_TYPES, device_type
from station.device_types.base import Problem

_STEP_FIELDS = [(t.step_field, t.config) for t in DEVICE_TYPES if t.step_field is not None]
"""Step field naming a device -> the device section it must be."""


def check_line(line: LineFile) -> list[Problem]:
    """Step order, unique names, known attributes, a rework bay off the route."""
    problems: list[Problem] = []
    route = line.route
    seen_ops: dict[str, int] = {}
    seen_stations: dict[str, int] = {}
    previous_step = 0
    for index, op in enumerate(route.operations):
        at = ("route", "operations", index)
        if op.step <= previous_step:
            problems.append(
                (
                    (*at, "step"),
                    f"steps must increase along the route ({op.step} after {previous_step})",
                )
            )
        previous_step = max(previous_step, op.step)
        if op.operation in seen_ops:
            problems.append(
                (
                    (*at, "operation"),
                    f"operation {op.operation!r} already defined at "
                    f"operations[{seen_ops[op.operation]}]",
                )
            )
        seen_ops.setdefault(op.operation, index)
        if op.when is not None:
            attribute = op.when.removeprefix("not ")
            if attribute not in line.attributes:
                known = ", ".join(sorted(line.attributes)) or "none declared"
                problems.append(
                    ((*at, "when"), f"unknown attribute {attribute!r} (attributes: {known})")
                )
        problems += _station_problems(line, index, seen_stations)
    if route.operations[0].when is not None:
        problems.append(
            (("route", "operations", 0, "when"), "the first operation cannot be conditional")
        )
    if route.rework.operation in seen_ops:
        problems.append(
            (
                ("route", "rework", "operation"),
                f"{route.rework.operation!r} is also a route operation",
            )
        )
    return problems


def _station_problems(line: LineFile, index: int, seen: dict[str, int]) -> list[Problem]:
    """Operation `index` has its station or its parallel stations (two or more), none
    the rework bay and none doing another operation; `seen` maps the stations met so far
    to their operation's index."""
    route = line.route
    op = route.operations[index]
    at = ("route", "operations", index)
    if op.station is None and not op.stations:
        return [(at, "no station: give `station: NAME`, or `stations: [A, B]` for parallel ones")]
    if op.station is not None and op.stations:
        return [((*at, "stations"), "give station or stations, not both")]
    if op.station is None and len(op.stations) == 1:
        return [
            (
                (*at, "stations"),
                f"one station is `station: {op.stations[0]}`; stations lists two or more",
            )
        ]
    named: list[Problem] = [((*at, "station"), op.station)] if op.station is not None else []
    named += [((*at, "stations", number), name) for number, name in enumerate(op.stations)]
    problems: list[Problem] = []
    for where, name in named:
        if name == route.rework.station:
            problems.append(
                (where, f"{name!r} is the rework bay; it cannot hold a route operation")
            )
        elif name in seen and seen[name] == index:
            problems.append((where, f"station {name!r} is listed twice"))
        elif name in seen:
            other = route.operations[seen[name]].operation
            problems.append(
                (
                    where,
                    f"station {name!r} already does {other!r} (operations[{seen[name]}]); "
                    "a station does one operation",
                )
            )
        seen.setdefault(name, index)
    return problems


def check_station(station: StationFile, line: LineFile) -> list[Problem]:
    """The station against its line, each device by its type's own checks, the steps
    against the devices and the I/O map."""
    problems = list(_check_route_binding(station, line))
    for name, device in station.devices.items():
        problems += device_type(device.driver).check(name, device, station)
    problems += _check_steps(station)
    problems += _check_found(station, line)
    return problems


def _check_found(station: StationFile, line: LineFile) -> Iterator[Problem]:
    """A find_attributes step asks about attributes of the line, once each, after the
    route is verified (the vehicle admitted), at a route operation (not the rework bay)."""
    verified = False
    asked: set[str] = set()
    for index, step in enumerate(station.cycle):
        at = ("cycle", index)
        verified = verified or isinstance(step, VerifyRouteStep)
        if not isinstance(step, FindAttributesStep):
            continue
        if not verified:
            yield ((*at, "step"), "find_attributes needs a verify_route step before it")
        if station.operation == line.route.rework.operation:
            yield ((*at, "step"), "the rework bay finds no attribute: route operations do")
        for name in step.attributes:
            if name not in line.attributes:
                known = ", ".join(line.attributes) or "none declared"
                yield (
                    (*at, "attributes", name),
                    f"line {line.line} declares no attribute {name!r} (attributes: {known})",
                )
            elif name in asked:
                yield ((*at, "attributes", name), f"{name!r} is already asked by an earlier step")
            asked.add(name)


def _check_route_binding(station: StationFile, line: LineFile) -> Iterator[Problem]:
    operations = {op.operation: op for op in line.route.operations}
    if station.operation == line.route.rework.operation:
        if station.station != line.route.rework.station:
            yield (
                ("station",),
                f"line {line.line} puts {station.operation!r} at station "
                f"{line.route.rework.station!r}, not {station.station!r}",
            )
        return
    op = operations.get(station.operation)
    if op is None:
        known = ", ".join([*operations, line.route.rework.operation])
        yield (
            ("operation",),
            f"no operation {station.operation!r} in line {line.line} (has: {known})",
        )
    elif station.station not in op.served_by:
        where = (
            f"station {op.station!r}"
            if op.station is not None
            else "stations " + ", ".join(map(repr, op.stations))
        )
        yield (
            ("station",),
            f"line {line.line} puts {station.operation!r} at {where}, not {station.station!r}",
        )


def _io_names(station: StationFile) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Input name -> PLC, output name -> (PLC, table) over every PLC of the station."""
    inputs: dict[str, str] = {}
    outputs: dict[str, tuple[str, str]] = {}
    for device_name, device in station.devices.items():
        if isinstance(device, ModbusPlcConfig):
            inputs.update(dict.fromkeys(device.inputs, device_name))
            outputs.update({n: (device_name, p.table) for n, p in device.outputs.items()})
    return inputs, outputs


def _check_steps(station: StationFile) -> Iterator[Problem]:
    inputs, outputs = _io_names(station)
    identified = False
    last = len(station.cycle) - 1
    for index, step in enumerate(station.cycle):
        at = ("cycle", index)
        for field, kind in _STEP_FIELDS:
            name = getattr(step, field, None)
            if name is None:
                continue
            device = station.devices.get(name)
            if device is None:
                known = ", ".join(station.devices) or "none"
                yield ((*at, field), f"no device {name!r} in this station (devices: {known})")
            elif not isinstance(device, kind):
                yield ((*at, field), f"device {name!r} is a {device.driver}, not a {field}")
            else:
                yield from device_type(device.driver).check_step(step, at, device)
        written: dict[str, int] = {}
        if isinstance(step, SetOutputsStep | ReleaseStep):
            written = step.outputs
        for name, value in written.items():
            if name not in outputs:
                yield ((*at, "outputs", name), f"no output {name!r} in the I/O map")
            elif outputs[name][1] == "coil" and value not in (0, 1):
                yield (
                    (*at, "outputs", name),
                    f"{name!r} is a coil: value must be 0 or 1 (got {value})",
                )
        read: list[tuple[str, str | None]] = []
        if isinstance(step, WaitInputStep):
            read.append(("input", step.input))
        if isinstance(step, ReleaseStep):
            read.append(("wait_input", step.wait_input))
        if isinstance(step, TurntableSweepStep):
            read.append(("zone_clear_input", step.zone_clear_input))
        for field, name in read:
            if name is not None and name not in inputs:
                yield ((*at, field), f"no input {name!r} in the I/O map")
        if isinstance(step, MeasureStep):
            yield from _measured_devices(station, step, at)
        if isinstance(step, InspectStep):
            yield from _inspect_data(station, step, at)
        if isinstance(step, IdentifyStep):
            identified = True
            if step.barcode is None and step.rfid is None:
                yield (at, "identify needs a barcode reader, an rfid reader, or both")
        if (
            isinstance(
                step, VerifyRouteStep | WriteTagStep | ReleaseStep | InspectStep | MeasureStep
            )
            and not identified
        ):
            yield ((*at, "step"), f"{step.step} needs an identify step before it")
        if isinstance(step, ReleaseStep) and index != last:
            yield ((*at, "step"), "release must be the last step of the cycle")


def _measured_devices(
    station: StationFile, step: MeasureStep, at: tuple[str | int, ...]
) -> Iterator[Problem]:
    """The devices a measure step's quantities name exist and measure: a register of a
    tester, a node of an OPC UA device (that they exist is the device type's check)."""
    for name, quantity in step.quantities.items():
        if quantity.device is None:
            continue
        device = station.devices.get(quantity.device)
        where = (*at, "quantities", name)
        if device is None:
            known = ", ".join(station.devices) or "none"
            yield (
                (*where, "device"),
                f"no device {quantity.device!r} in this station (devices: {known})",
            )
        elif isinstance(device, ModbusBatteryTesterConfig):
            if quantity.node is not None:
                yield (
                    (*where, "node"),
                    f"device {quantity.device!r} is a tester: name its register_name, not a node",
                )
        elif isinstance(device, OpcUaDeviceConfig):
            if quantity.register_name is not None:
                yield (
                    (*where, "register_name"),
                    f"device {quantity.device!r} is an OPC UA device: name its node, "
                    "not a register_name",
                )
        else:
            yield (
                (*where, "device"),
                f"device {quantity.device!r} is a {device.driver}, "
                "not a tester or an OPC UA device",
            )


def _inspect_data(
    station: StationFile, step: InspectStep, at: tuple[str | int, ...]
) -> Iterator[Problem]:
    """Typed findings need an inspector and a catalogue; the result's quantities need a
    device's result document and come from it (no device or register of their own)."""
    if step.ask_findings and step.device is not None:
        yield (
            (*at, "ask_findings"),
            f"findings are typed by an inspector; device {step.device!r} gives its own",
        )
    if step.ask_findings and not station.findings:
        yield (
            (*at, "ask_findings"),
            "typed findings need the station's findings: catalogue (code: {text, severity})",
        )
    if step.result_node is not None and step.device is None:
        yield ((*at, "result_node"), "a result node needs the inspection device (device:)")
    if step.quantities and step.result_node is None:
        yield (
            (*at, "quantities"),
            "the quantities of an inspect step come from the device's result: set result_node",
        )
    for name, quantity in step.quantities.items():
        if quantity.device is not None:
            yield (
                (*at, "quantities", name, "device"),
                "a quantity of an inspect step comes from the result document: no device",
            )
