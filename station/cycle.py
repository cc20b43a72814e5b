"""The cycle executor: the station's configured steps, run for one vehicle.

Each step is a coroutine over the devices (through `hal.interfaces` only),
the route rules and the people (prompts). Rules that hold for every step:

- Journal first: the event that causes an output (the outputs themselves,
  the tag content, the release) is committed before the output is written.
- A step either finishes or raises `StepFailed`, which names the state the
  station goes to: `hold` for what a person must decide (route violation,
  reader disagreement, a write that does not verify, a verdict timeout),
  `abort` for a device fault (link lost, Modbus exception, turntable stall).
  No other exception leaves a step: device errors are translated here.
- Each step is resumable: after a hold, an abort or a crash the station
  runs the step again from what the journal says (`station.visit`):
  confirmed checklist items stay confirmed, a verdict is not asked twice,
  a tag is rewritten with the content already journaled, never new content,
  and a vehicle already released is not released again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from hal.errors import AmbiguousRead, DeviceError, LinkDown, ReaderError, WriteNotVerified
from hal.sweep import sweep
from station import route as rules
from station import tag as tagfmt
from station.alarms import Priority
from station.config.models import (
    CycleStep,
    IdentifyStep,
    InspectStep,
    OperatorChecklistStep,
    ReleaseStep,
    SetOutputsStep,
    TurntableSweepStep,
    VerifyRouteStep,
    WaitInputStep,
    WriteTagStep,
)
from station.vin import VinError, parse_vin

if TYPE_CHECKING:
    from station.runtime import Station

Action = Literal["hold", "abort"]


class StepFailed(Exception):
    """A step could not finish: the station holds or aborts, with an alarm."""

    def __init__(
        self,
        action: Action,
        kind: str,
        message: str,
        *,
        priority: Priority = Priority.HIGH,
        data: dict[str, Any] | None = None,
        vin: str | None = None,
    ) -> None:
        super().__init__(message)
        self.vin = vin
        """The vehicle concerned, when the station has not identified it yet."""
        self.action = action
        self.kind = kind
        self.message = message
        self.priority = priority
        self.data = data or {}


def device_failure(exc: DeviceError, step: str) -> StepFailed:
    """A device error during a step: abort, naming the device and what failed."""
    kind = "link_lost" if isinstance(exc, LinkDown) else type(exc).__name__
    return StepFailed("abort", kind, f"{step}: {exc}", priority=Priority.CRITICAL)


async def run_step(rt: Station, index: int, step: CycleStep) -> None:
    """Run one configured step for the vehicle in the station."""
    runner = _RUNNERS[type(step)]
    try:
        await runner(rt, index, step)
    except DeviceError as exc:
        raise device_failure(exc, f"step {index} {step.step}") from exc


# --- wait_input -----------------------------------------------------------------


async def _wait_input(rt: Station, index: int, step: WaitInputStep) -> None:
    plc = rt.devices.plc_with_input(step.input)
    try:
        await plc.wait_for(step.input, step.value, step.timeout_s or None)
    except TimeoutError as exc:
        raise StepFailed(
            "hold",
            "timeout",
            f"{step.input} did not read {step.value} within {step.timeout_s} s",
            priority=Priority.MEDIUM,
        ) from exc


# --- identify -------------------------------------------------------------------


async def _identify(rt: Station, index: int, step: IdentifyStep) -> None:
    vin_code: str | None = None
    source: list[str] = []
    if step.barcode is not None:
        vin_code = await _read_vin(rt, step)
        source.append("barcode" if vin_code is not None else "")
    tag: bytes | None = None
    tag_vin: str | None = None
    if step.rfid is not None:
        tag, tag_vin = await _read_tag(rt, step.rfid)
        source.append("rfid")
    if vin_code is None and tag_vin is None:
        vin_code = await _manual_vin(rt, step, "no VIN from the readers")
        source.append("manual")
    if vin_code is not None and tag_vin is not None and vin_code != tag_vin:
        raise StepFailed(
            "hold",
            "id_mismatch",
            f"barcode VIN {vin_code} but tag VIN {tag_vin}",
            data={"expected": tag_vin, "found": vin_code},
            vin=tag_vin,
        )
    vin = vin_code or tag_vin
    assert vin is not None
    rt.alarms_clear(f"noread:{rt.name}")
    await rt.record(
        "identified",
        vin=vin,
        step=f"{index}:identify",
        result="+".join(s for s in source if s),
        data={"tag": tag.hex() if tag is not None else None, "model": rt.model_of(vin)},
    )


async def _read_vin(rt: Station, step: IdentifyStep) -> str | None:
    """Trigger the barcode reader up to `attempts` times; None after the last no-read."""
    assert step.barcode is not None
    reader = rt.devices.barcodes[step.barcode]
    for attempt in range(1, step.attempts + 1):
        try:
            read = await reader.read()
        except AmbiguousRead as exc:
            raise StepFailed("hold", "ambiguous_read", str(exc), data={"found": exc.found}) from exc
        except ReaderError as exc:
            rt.log.warning("barcode_error", attempt=attempt, error=str(exc))
            continue
        if read.noread:
            await rt.record("noread", result=f"attempt {attempt}/{step.attempts}")
            continue
        try:
            vin = parse_vin(read.codes[0])
        except VinError as exc:
            await rt.record("vin_rejected", result=str(exc), data={"code": read.codes[0]})
            continue
        for warning in vin.warnings:
            rt.log.warning("vin_warning", vin=vin.value, warning=warning)
        return vin.value
    return None


async def _manual_vin(rt: Station, step: IdentifyStep, why: str) -> str:
    if not step.manual_entry:
        raise StepFailed("hold", "noread", f"{why}; manual entry is off for this station")
    rt.alarms_raise(f"noread:{rt.name}", Priority.MEDIUM, f"{why}: type the VIN")
    text = f"{why}: type the VIN from the windscreen label"
    while True:
        try:
            answer = await rt.prompts.ask(
                "manual_vin", text, frozenset({"operator", "supervisor"}), timeout=step.timeout_s
            )
        except TimeoutError as exc:
            raise StepFailed("hold", "noread", f"{why}; no manual entry in time") from exc
        try:
            vin = parse_vin(answer.value).value
        except VinError as exc:
            text = f"{exc}: type it again"
            continue
        await rt.record("manual_vin", vin=vin, operator=answer.user, result="entered")
        return vin


async def _read_tag(rt: Station, name: str) -> tuple[bytes, str | None]:
    """The tag's memory and the VIN it carries (None for a blank tag)."""
    reader = rt.devices.rfids[name]
    uids = await reader.scan()
    if not uids:
        raise StepFailed("hold", "no_tag", f"{name}: no tag in the field")
    if len(uids) > 1:
        raise StepFailed(
            "hold", "several_tags", f"{name}: {len(uids)} tags in the field: {', '.join(uids)}"
        )
    try:
        data = await reader.read_blocks(0, tagfmt.TAG_BYTES // reader.block_size)
    except AmbiguousRead as exc:
        raise StepFailed("hold", "several_tags", str(exc)) from exc
    try:
        progress = tagfmt.decode(data, rt.route)
    except tagfmt.BlankTag:
        return data, None
    except tagfmt.RouteMismatch as exc:
        return data, exc.vin
    except tagfmt.CorruptTag as exc:
        raise StepFailed("hold", "tag_corrupt", f"{name}: {exc}") from exc
    return data, progress.vin


# --- verify_route ------------------------------------------------------------------


def progress_in(rt: Station) -> rules.Progress | None:
    """The vehicle's progress as read from its tag (None: a blank tag or no tag).
    RouteMismatch when the tag was written under another route."""
    visit = rt.visit
    if visit is None or visit.tag_in is None:
        return None
    try:
        return tagfmt.decode(bytes.fromhex(visit.tag_in), rt.route)
    except tagfmt.BlankTag:
        return None


async def _verify_route(rt: Station, index: int, step: VerifyRouteStep) -> None:
    visit = rt.visit
    assert visit is not None and visit.vin is not None
    route = rt.route
    operation = rt.config.model.operation
    try:
        progress = progress_in(rt)
    except tagfmt.RouteMismatch as exc:
        await _violate(rt, index, exc.violation)
        return
    checkin = route.operations[0]
    if progress is None and operation == checkin.operation and checkin.kind == "check_in":
        progress = rules.intake(route, visit.vin, rt.attributes_of(visit.vin))
        content = tagfmt.encode(progress, route).hex()
        await rt.record(
            "progress", vin=visit.vin, step=f"{index}:verify_route", data={"tag": content}
        )
    verdict = rules.admit(route, progress, operation)
    if isinstance(verdict, rules.Violation):
        await _violate(rt, index, verdict)
        return
    await rt.record(
        "admitted",
        vin=visit.vin,
        step=f"{index}:verify_route",
        data={"operation": operation, "rework": operation == route.rework.operation},
    )


async def _violate(rt: Station, index: int, violation: rules.Violation) -> None:
    visit = rt.visit
    assert visit is not None
    data = {
        "kind": violation.kind,
        "expected": violation.expected,
        "found": violation.found,
        "message": violation.message,
    }
    await rt.record(
        "violation", vin=visit.vin, step=f"{index}:verify_route", result=violation.kind, data=data
    )
    raise StepFailed("hold", violation.kind, violation.message, data=data)


# --- set_outputs ----------------------------------------------------------------------


async def set_outputs(
    rt: Station, outputs: dict[str, int], step: str, operator: str | None = None
) -> None:
    """Journal the outputs, then write each (with read-back) on its PLC."""
    if not outputs:
        return
    await rt.record("outputs", vin=rt.vin, step=step, data=dict(outputs), operator=operator)
    for name, value in outputs.items():
        await rt.devices.plc_with_output(name).write(name, value)


async def _set_outputs(rt: Station, index: int, step: SetOutputsStep) -> None:
    await set_outputs(rt, step.outputs, f"{index}:set_outputs")


# --- operator checklist ------------------------------------------------------------------


async def _checklist(rt: Station, index: int, step: OperatorChecklistStep) -> None:
    visit = rt.visit
    assert visit is not None
    roles = frozenset({step.role, "supervisor"})
    for item in range(visit.checklist.get(index, 0), len(step.items)):
        rt.step_progress = item / len(step.items)
        text = step.items[item]
        answer = await rt.prompts.ask("checklist", text, roles, options=("done",), item=item)
        await rt.record(
            "checklist_item",
            vin=visit.vin,
            step=f"{index}:operator_checklist",
            result="done",
            operator=answer.user,
            data={"index": item, "text": text},
        )


# --- inspect ---------------------------------------------------------------------------


async def _inspect(rt: Station, index: int, step: InspectStep) -> None:
    visit = rt.visit
    assert visit is not None and visit.vin is not None
    if index in visit.verdicts:
        return  # asked before a crash or a hold: never asked twice
    operator: str | None = None
    if step.device is None:
        try:
            answer = await rt.prompts.ask(
                "verdict",
                f"verdict for {visit.vin} at {rt.config.model.operation}",
                frozenset({"inspector", "supervisor"}),
                options=("pass", "fail"),
                timeout=step.timeout_s,
            )
        except TimeoutError as exc:
            raise StepFailed("hold", "verdict_timeout", "no verdict entered in time") from exc
        verdict, operator = answer.value, answer.user
    else:
        verdict = await _device_verdict(rt, step, visit.vin)
    await rt.record(
        "verdict",
        vin=visit.vin,
        step=f"{index}:inspect",
        result=verdict,
        operator=operator or step.device,
    )


async def _device_verdict(rt: Station, step: InspectStep, vin: str) -> str:
    assert step.device is not None
    device = rt.devices.opcua[step.device]
    changes = device.changes(step.verdict_node)
    try:
        async with asyncio.timeout(step.timeout_s):
            await device.write(step.vin_node, vin)
            async for value in changes:
                verdict = _parse_verdict(value, vin)
                if verdict is not None:
                    return verdict
    except TimeoutError as exc:
        raise StepFailed(
            "hold", "verdict_timeout", f"{step.device}: no verdict for {vin} in {step.timeout_s} s"
        ) from exc
    finally:
        await changes.aclose()  # type: ignore[attr-defined]
    raise StepFailed("abort", "link_lost", f"{step.device}: verdict subscription ended")


def _parse_verdict(value: Any, vin: str) -> str | None:
    """The inspection system publishes 'VIN:pass' / 'VIN:fail' (or a bare verdict)."""
    text = str(value).strip().lower()
    if ":" in text:
        who, _, text = text.partition(":")
        if who.upper() != vin:
            return None
    return text if text in ("pass", "fail") else None


# --- turntable sweep -------------------------------------------------------------------


async def _sweep(rt: Station, index: int, step: TurntableSweepStep) -> None:
    visit = rt.visit
    assert visit is not None
    if visit.photo_complete or visit.photo_overridden:
        return
    plc = rt.devices.plc_with_output(step.camera_output)

    async def on_shot(shot: int, angle: float) -> None:
        rt.step_progress = (shot + 1) / step.steps
        rt.changed()

    result = await sweep(
        rt.devices.turntables[step.turntable],
        plc,
        steps=step.steps,
        step_deg=step.step_deg,
        settle_s=step.settle_ms / 1000 * rt.time_scale,
        trigger_s=step.trigger_ms / 1000 * rt.time_scale,
        camera_output=step.camera_output,
        home_first=step.home_first,
        on_shot=on_shot,
    )
    fault = result.fault
    shots = [shot.angle_deg for shot in result.shots]
    complete = result.complete
    await rt.record(
        "photo_session",
        vin=visit.vin,
        step=f"{index}:turntable_sweep",
        result="complete" if complete else "incomplete",
        data={
            "shots": len(shots),
            "expected": step.steps,
            "angles": [round(a, 1) for a in shots],
            "fault": None if fault is None else {"kind": fault.kind, "message": fault.message},
        },
    )
    if not complete:
        kind = fault.kind if fault is not None else "incomplete"
        action: Action = "hold" if kind == "zone_not_clear" else "abort"
        raise StepFailed(
            action,
            f"turntable_{kind}",
            f"photo session incomplete ({len(shots)}/{step.steps} shots): "
            f"{fault.message if fault else 'sweep ended early'}",
            priority=Priority.CRITICAL if action == "abort" else Priority.HIGH,
        )


# --- write tag -------------------------------------------------------------------------


def outcome(rt: Station) -> rules.Outcome:
    """passed, or failed when the last verdict of this visit was a fail."""
    visit = rt.visit
    assert visit is not None
    return "failed" if visit.verdict == "fail" else "passed"


async def progress_out(rt: Station) -> bytes:
    """The tag content after this operation: journaled once, then reused as is."""
    visit = rt.visit
    assert visit is not None and visit.vin is not None
    if visit.tag_out is not None:
        return bytes.fromhex(visit.tag_out)
    before = progress_in(rt)
    if before is None:
        raise StepFailed("hold", "unknown_vehicle", f"{visit.vin}: no progress to write")
    after = rules.complete(rt.route, before, rt.config.model.operation, outcome(rt)).next_write()
    content = tagfmt.encode(after, rt.route)
    await rt.record("tag_write", vin=visit.vin, data={"tag": content.hex(), "seq": after.seq})
    return content


async def _write_tag(rt: Station, index: int, step: WriteTagStep) -> None:
    visit = rt.visit
    assert visit is not None
    if visit.tag_written:
        return
    content = await progress_out(rt)
    reader = rt.devices.rfids[step.rfid]
    try:
        await reader.write_blocks(0, content)
    except (ReaderError, WriteNotVerified) as exc:  # no tag, several tags, no read-back
        raise StepFailed("hold", "tag_write_failed", f"{step.rfid}: {exc}") from exc
    await rt.record("tag_written", vin=visit.vin, step=f"{index}:write_tag", result="verified")


# --- release -----------------------------------------------------------------------------


async def _release(rt: Station, index: int, step: ReleaseStep) -> None:
    visit = rt.visit
    assert visit is not None
    if visit.released:
        return
    if visit.tag_out is None:
        await progress_out(rt)  # the progress is journaled even without a tag to write
    await set_outputs(rt, step.outputs, f"{index}:release")
    if step.wait_input is not None:
        plc = rt.devices.plc_with_input(step.wait_input)
        rt.blocked = True
        rt.changed()
        try:
            await plc.wait_for(step.wait_input, step.wait_value, step.timeout_s or None)
        except TimeoutError as exc:
            raise StepFailed(
                "hold", "timeout", f"vehicle still in the station after {step.timeout_s} s"
            ) from exc
        finally:
            rt.blocked = False
    await rt.record("released", vin=visit.vin, step=f"{index}:release", result=outcome(rt))
    safe = {name: rt.safe_value(name) for name in step.outputs}
    await set_outputs(rt, safe, f"{index}:release")


_RUNNERS: dict[type, Any] = {
    WaitInputStep: _wait_input,
    IdentifyStep: _identify,
    VerifyRouteStep: _verify_route,
    SetOutputsStep: _set_outputs,
    OperatorChecklistStep: _checklist,
    InspectStep: _inspect,
    TurntableSweepStep: _sweep,
    WriteTagStep: _write_tag,
    ReleaseStep: _release,
}
