"""The cycle executor: the station's configured steps, run for one vehicle.

Each step is a coroutine given a `station.step_context.StepContext`: the
devices (through `hal.interfaces` only), the route, the people (prompts), the
journal. The identify step is in `station.identify`, the inspect step (verdict,
findings, the inspection's measurements) in `station.inspect`, the measure step in
`station.measure`, the find_attributes step (route attributes found on the way) in
`station.attributes_found`. Rules that hold for every step:

- Journal first: the event that causes an output (the outputs themselves,
  the tag content, the release) is committed before the output is written.
- A step either finishes or raises `StepFailed`, which names the state the
  station goes to: `hold` for what a person must decide (route violation,
  reader disagreement, a write that does not verify, a verdict timeout),
  `abort` for a device fault (link lost, Modbus exception, turntable stall).
  No other exception leaves a step: device errors are translated here.
- Each step is resumable: after a hold, an abort or a crash the station
  runs the step again from what the journal says (`station.visit`):
  confirmed checklist items stay confirmed, a verdict or a journaled
  measured value is not asked (or read) twice,
  a tag is rewritten with the content already journaled, never new content,
  and a vehicle already released is not released again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hal.config import CameraSystemConfig, OutputPoint
from hal.errors import DeviceError, ReaderError, WriteNotVerified
from hal.sweep import ManifestEntry, photo_session, plan
from station import defects, tag
from station.alarms import Priority
from station.attributes_found import find_attributes, with_found
from station.config.models import (
    CycleStep,
    FindAttributesStep,
    IdentifyStep,
    InspectStep,
    MeasureStep,
    OperatorChecklistStep,
    ReleaseStep,
    SetOutputsStep,
    StationFile,
    TurntableSweepStep,
    VerifyRouteStep,
    WaitInputStep,
    WriteTagStep,
)
from station.devices import DeviceSet
from station.events import (
    Admitted,
    ChecklistItem,
    ChecklistItemData,
    IntakeProgress,
    ManifestImage,
    OutputsSet,
    PhotoSession,
    Released,
    RouteViolated,
    TagWrite,
    TagWritten,
    ViolationData,
)
from station.identify import identify
from station.inspect import inspect
from station.measure import measure
from station.route import Progress, RouteSnapshot, Violation, admit, complete, intake
from station.step_context import Action, Record, StepContext, StepFailed, device_failure
from station.visit import Visit


async def run_step(ctx: StepContext, index: int, step: CycleStep) -> None:
    """Run one configured step for the vehicle in the station."""
    runner = _RUNNERS[type(step)]
    try:
        await runner(ctx, index, step)
    except DeviceError as exc:
        raise device_failure(exc, f"step {index} {step.step}") from exc


# --- wait_input -----------------------------------------------------------------


async def _wait_input(ctx: StepContext, index: int, step: WaitInputStep) -> None:
    plc = ctx.devices.plc_with_input(step.input)
    try:
        await plc.wait_for(step.input, step.value, step.timeout_s or None)
    except TimeoutError as exc:
        raise StepFailed(
            "hold",
            "timeout",
            f"{step.input} did not read {step.value} within {step.timeout_s} s",
            priority=Priority.MEDIUM,
        ) from exc


# --- verify_route ------------------------------------------------------------------


def progress_in(visit: Visit, route: RouteSnapshot) -> Progress | None:
    """The vehicle's progress as read from its tag (None: a blank tag or no tag).
    RouteMismatch when the tag was written under another route."""
    if visit.tag_in is None:
        return None
    try:
        return tag.decode(bytes.fromhex(visit.tag_in), route)
    except tag.BlankTag:
        return None


async def _verify_route(ctx: StepContext, index: int, step: VerifyRouteStep) -> None:
    visit = ctx.visit
    assert visit.vin is not None
    route = ctx.route
    operation = ctx.station.operation
    try:
        progress = progress_in(visit, route)
    except tag.RouteMismatch as exc:
        await _violate(ctx, index, exc.violation)
        return
    checkin = route.operations[0]
    if progress is None and operation == checkin.operation and checkin.kind == "check_in":
        progress = intake(route, visit.vin, ctx.orders.attributes(visit.vin))
        content = tag.encode(progress, route).hex()
        await ctx.record(
            IntakeProgress(vin=visit.vin, step=f"{index}:verify_route", data={"tag": content})
        )
    verdict = admit(route, progress, operation)
    if isinstance(verdict, Violation):
        await _violate(ctx, index, verdict)
        return
    await ctx.record(
        Admitted(
            vin=visit.vin,
            step=f"{index}:verify_route",
            data={"operation": operation, "rework": operation == route.rework.operation},
        )
    )


async def _violate(ctx: StepContext, index: int, violation: Violation) -> None:
    data: ViolationData = {
        "kind": violation.kind,
        "expected": violation.expected,
        "found": violation.found,
        "message": violation.message,
    }
    await ctx.record(
        RouteViolated(
            vin=ctx.visit.vin, step=f"{index}:verify_route", result=violation.kind, data=data
        )
    )
    raise StepFailed("hold", violation.kind, violation.message, data=data)


# --- set_outputs ----------------------------------------------------------------------


async def set_outputs(
    record: Record,
    devices: DeviceSet,
    vin: str | None,
    outputs: Mapping[str, int],
    step: str,
    operator: str | None = None,
) -> None:
    """Journal the outputs, then write each (with read-back) on its PLC."""
    if not outputs:
        return
    await record(OutputsSet(vin=vin, step=step, data=dict(outputs), operator=operator))
    for name, value in outputs.items():
        await devices.plc_with_output(name).write(name, value)


async def _set_outputs(ctx: StepContext, index: int, step: SetOutputsStep) -> None:
    await set_outputs(ctx.record, ctx.devices, ctx.visit.vin, step.outputs, f"{index}:set_outputs")


# --- operator checklist ------------------------------------------------------------------


async def _checklist(ctx: StepContext, index: int, step: OperatorChecklistStep) -> None:
    visit = ctx.visit
    roles = frozenset({step.role, "supervisor"})
    for item in range(visit.checklist.get(index, 0), len(step.items)):
        ctx.report.progress = item / len(step.items)
        text = step.items[item]
        data: ChecklistItemData = {"index": item, "text": text}
        shown = text
        if step.show_findings and visit.vin is not None:
            data["findings"] = defects.shown(ctx.defects, visit.vin)
            shown = f"{text} ({data['findings']})"
        answer = await ctx.prompts.ask("checklist", shown, roles, options=("done",), item=item)
        await ctx.record(
            ChecklistItem(
                vin=visit.vin,
                step=f"{index}:operator_checklist",
                result="done",
                operator=answer.user,
                data=data,
            )
        )


# --- turntable sweep -------------------------------------------------------------------


async def _sweep(ctx: StepContext, index: int, step: TurntableSweepStep) -> None:
    """The photo session (`hal.sweep`): each rotation journaled with its manifest; an
    incomplete set without a device fault is taken again `retries` times."""
    visit = ctx.visit
    if visit.photo_complete or visit.photo_overridden:
        return
    cameras = ctx.devices.cameras[step.cameras]
    section = ctx.station.devices[step.cameras]
    assert isinstance(section, CameraSystemConfig)  # the config checks say so
    shots = plan(step.steps, step.step_deg, step.shots)

    async def on_shot(number: int) -> None:
        ctx.report.progress = (number + 1) / step.steps
        ctx.report.changed()

    for rotation in range(1, step.retries + 2):
        result = await photo_session(
            ctx.devices.turntables[step.turntable],
            cameras,
            session=visit.vin or f"cycle-{visit.cycle}",
            shots=shots,
            speed_deg_s=step.speed_deg_s,
            tolerance_deg=step.angle_tolerance_deg,
            report_timeout_s=section.report_timeout_s,  # unscaled: it runs out only on a miss
            home_first=step.home_first,
            on_shot=on_shot,
        )
        fault = result.fault
        await ctx.record(
            PhotoSession(
                vin=visit.vin,
                step=f"{index}:turntable_sweep",
                result="complete" if result.complete else "incomplete",
                data={
                    "shots": result.taken,
                    "expected": len(result.manifest),
                    "rotation": rotation,
                    "manifest": [_image(entry) for entry in result.manifest],
                    "fault": None
                    if fault is None
                    else {"kind": fault.kind, "message": fault.message},
                },
            )
        )
        if result.complete or fault is not None:
            break
    if result.complete:
        return
    missing = Counter(e.problem for e in result.manifest if e.problem is not None)
    kind = fault.kind if fault is not None else "shots_missed"
    why = fault.message if fault else ", ".join(f"{n} {p}" for p, n in sorted(missing.items()))
    action: Action = "hold" if kind == "zone_not_clear" else "abort"
    raise StepFailed(
        action,
        f"turntable_{kind}",
        f"photo session incomplete ({result.taken}/{len(result.manifest)} images"
        f"{'' if fault else f' after {rotation} rotations'}): {why}",
        priority=Priority.CRITICAL if action == "abort" else Priority.HIGH,
    )


def _image(entry: ManifestEntry) -> ManifestImage:
    report = entry.report
    return {
        "shot": entry.shot,
        "camera": entry.camera,
        "angle_deg": entry.angle_deg,
        "taken_deg": None if report is None else report.angle_deg,
        "name": None if report is None else report.name,
        "sha256": None if report is None else report.sha256,
        "time": None if report is None else report.time,
        "problem": entry.problem,
    }


# --- write tag -------------------------------------------------------------------------


async def progress_out(ctx: StepContext) -> bytes:
    """The tag content after this operation: journaled once, then reused as is."""
    visit = ctx.visit
    assert visit.vin is not None
    if visit.tag_out is not None:
        return bytes.fromhex(visit.tag_out)
    before = progress_in(visit, ctx.route)
    if before is None:
        raise StepFailed("hold", "unknown_vehicle", f"{visit.vin}: no progress to write")
    operation = ctx.station.operation
    before = with_found(ctx.route, before, operation, visit.found)
    after = complete(ctx.route, before, operation, visit.outcome).next_write()
    content = tag.encode(after, ctx.route)
    await ctx.record(TagWrite(vin=visit.vin, data={"tag": content.hex(), "seq": after.seq}))
    return content


async def _write_tag(ctx: StepContext, index: int, step: WriteTagStep) -> None:
    visit = ctx.visit
    if visit.tag_written:
        return
    content = await progress_out(ctx)
    reader = ctx.devices.rfids[step.rfid]
    try:
        await reader.write_blocks(0, content)
    except (ReaderError, WriteNotVerified) as exc:  # no tag, several tags, no read-back
        raise StepFailed("hold", "tag_write_failed", f"{step.rfid}: {exc}") from exc
    await ctx.record(TagWritten(vin=visit.vin, step=f"{index}:write_tag", result="verified"))


# --- release -----------------------------------------------------------------------------


async def _release(ctx: StepContext, index: int, step: ReleaseStep) -> None:
    visit = ctx.visit
    if visit.released:
        return
    if visit.tag_out is None:
        await progress_out(ctx)  # the progress is journaled even without a tag to write
    where = f"{index}:release"
    await set_outputs(ctx.record, ctx.devices, visit.vin, step.outputs, where)
    if step.wait_input is not None:
        plc = ctx.devices.plc_with_input(step.wait_input)
        ctx.report.blocked = True
        ctx.report.changed()
        try:
            await plc.wait_for(step.wait_input, step.wait_value, step.timeout_s or None)
        except TimeoutError as exc:
            raise StepFailed(
                "hold", "timeout", f"vehicle still in the station after {step.timeout_s} s"
            ) from exc
        finally:
            ctx.report.blocked = False
    await ctx.record(Released(vin=visit.vin, step=where, result=visit.outcome))
    safe = {name: safe_value(ctx.station, name) for name in step.outputs}
    await set_outputs(ctx.record, ctx.devices, visit.vin, safe, where)


def safe_value(station: StationFile, output: str) -> int:
    """The value an output takes when the station is safe (from its device's config)."""
    return output_point(station, output).safe


def output_point(station: StationFile, output: str) -> OutputPoint:
    """An output's entry in its PLC's allow-list (its table, address, safe value);
    KeyError when no device of the station has it."""
    for device in station.devices.values():
        outputs: dict[str, OutputPoint] = getattr(device, "outputs", {})
        if output in outputs:
            return outputs[output]
    raise KeyError(output)


_RUNNERS: dict[type, Callable[[StepContext, int, Any], Awaitable[None]]] = {
    WaitInputStep: _wait_input,
    IdentifyStep: identify,
    VerifyRouteStep: _verify_route,
    SetOutputsStep: _set_outputs,
    OperatorChecklistStep: _checklist,
    FindAttributesStep: find_attributes,
    InspectStep: inspect,
    MeasureStep: measure,
    TurntableSweepStep: _sweep,
    WriteTagStep: _write_tag,
    ReleaseStep: _release,
}
