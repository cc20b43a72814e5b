"""The station's status snapshot (`station.status.Status`), built from what the runtime holds.

Plain data for the OPC UA interface and the console; built on every change, so it
reads and never waits.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass

from station import tag
from station.alarms import AlarmList
from station.config.loader import LoadedStation
from station.cycle import progress_in
from station.devices import DeviceSet
from station.fsm import StationMachine
from station.prompts import Prompts
from station.readings import Readings, asked, last_measurements, visit_findings
from station.route import RouteSnapshot
from station.status import RouteStop, Status
from station.step_context import StepReport
from station.visit import Visit


@dataclass(frozen=True)
class StationView:
    """What the snapshot reads of the station, at one moment."""

    config: LoadedStation
    route: RouteSnapshot
    machine: StationMachine
    visit: Visit | None
    report: StepReport
    prompts: Prompts
    readings: Readings
    alarms: AlarmList
    counts: Counter[str]
    starved: bool
    devices: DeviceSet


def build_status(view: StationView) -> Status:
    """Everything the console and SCADA show, as plain data."""
    visit = view.visit
    steps = view.config.model.cycle
    index = visit.step_index if visit is not None else 0
    step = steps[min(index, len(steps) - 1)]
    devices = view.devices
    prompt = view.prompts.current
    return {
        "station": view.config.model.station,
        "operation": view.config.model.operation,
        "state": str(view.machine.state),
        "mode": str(view.machine.mode),
        "vin": visit.vin if visit else None,
        "model": visit.model if visit else "",
        "held": visit.held if visit else None,
        "route": route_strip(view.route, visit, view.config.model.operation),
        "step_index": index,
        "step_count": len(steps),
        "step": step.label or step.step,
        "step_progress": round(view.report.progress, 3),
        "prompt": asked(prompt, view.config.model, index) if prompt is not None else None,
        "alarms": [a.to_dict() for a in view.alarms.all()],
        "counts": {
            "cycles": view.counts["cycles"],
            "passed": view.counts["passed"],
            "failed": view.counts["failed"],
            "rework": view.counts["rework"],
            "held": view.counts["held"],
        },
        "blocked": view.report.blocked,
        "starved": view.starved,
        "inputs": {n: devices.input_value(n) for n in devices.input_names()},
        "outputs": {n: devices.plc_with_output(n).output(n) for n in devices.output_names()},
        "links": {n: d.link.state.up for n, d in devices.all.items()},
        "config_hash": view.config.content_hash,
        "route_version": view.route.version,
        "visit_measurements": list(view.readings.visit) if visit is not None else [],
        "visit_findings": visit_findings(visit) if visit is not None else [],
        "last_measurements": last_measurements(view.config.model, view.readings),
    }


def route_strip(route: RouteSnapshot, visit: Visit | None, here: str) -> list[RouteStop]:
    """The route as the console draws it: each operation, gate or not, done or not."""
    done: set[str] = set()
    if visit is not None:
        # a tag of another route or a corrupt one shows nothing done (the step says why)
        with contextlib.suppress(tag.TagError):
            progress = progress_in(visit, route)
            done = set(progress.done) if progress else set()
    return [
        {
            "step": op.step,
            "operation": op.operation,
            "gate": op.gate,
            "done": op.operation in done,
            "here": op.operation == here,
        }
        for op in route.operations
    ]
