"""The identify step: who the vehicle is, from its VIN barcode, its RFID tag or a
person typing the VIN; a barcode and a tag that disagree hold the station."""

from __future__ import annotations

from hal.errors import AmbiguousRead, ReaderError
from station import tag
from station.alarms import Priority
from station.config.models import IdentifyStep
from station.events import Identified, ManualVin, Noread, VinRejected
from station.step_context import StepContext, StepFailed
from station.vin import VinError, parse_vin


async def identify(ctx: StepContext, index: int, step: IdentifyStep) -> None:
    vin_code: str | None = None
    source: list[str] = []
    if step.barcode is not None:
        vin_code = await _read_vin(ctx, step)
        source.append("barcode" if vin_code is not None else "")
    memory: bytes | None = None
    tag_vin: str | None = None
    if step.rfid is not None:
        memory, tag_vin = await _read_tag(ctx, step.rfid)
        source.append("rfid")
    if vin_code is None and tag_vin is None:
        vin_code = await _manual_vin(ctx, step, "no VIN from the readers")
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
    ctx.clear_alarm(f"noread:{ctx.station.station}")
    await ctx.record(
        Identified(
            vin=vin,
            step=f"{index}:identify",
            result="+".join(s for s in source if s),
            data={
                "tag": memory.hex() if memory is not None else None,
                "model": ctx.orders.model(vin),
            },
        )
    )


async def _read_vin(ctx: StepContext, step: IdentifyStep) -> str | None:
    """Trigger the barcode reader up to `attempts` times; None after the last no-read."""
    assert step.barcode is not None
    reader = ctx.devices.barcodes[step.barcode]
    for attempt in range(1, step.attempts + 1):
        try:
            read = await reader.read()
        except AmbiguousRead as exc:
            raise StepFailed("hold", "ambiguous_read", str(exc), data={"found": exc.found}) from exc
        except ReaderError as exc:
            ctx.log.warning("barcode_error", attempt=attempt, error=str(exc))
            continue
        if read.noread:
            await ctx.record(Noread(result=f"attempt {attempt}/{step.attempts}"))
            continue
        try:
            vin = parse_vin(read.codes[0])
        except VinError as exc:
            await ctx.record(VinRejected(result=str(exc), data={"code": read.codes[0]}))
            continue
        for warning in vin.warnings:
            ctx.log.warning("vin_warning", vin=vin.value, warning=warning)
        return vin.value
    return None


async def _manual_vin(ctx: StepContext, step: IdentifyStep, why: str) -> str:
    if not step.manual_entry:
        raise StepFailed("hold", "noread", f"{why}; manual entry is off for this station")
    ctx.raise_alarm(f"noread:{ctx.station.station}", Priority.MEDIUM, f"{why}: type the VIN")
    text = f"{why}: type the VIN from the windscreen label"
    while True:
        try:
            answer = await ctx.prompts.ask(
                "manual_vin", text, frozenset({"operator", "supervisor"}), timeout=step.timeout_s
            )
        except TimeoutError as exc:
            raise StepFailed("hold", "noread", f"{why}; no manual entry in time") from exc
        try:
            vin = parse_vin(answer.value).value
        except VinError as exc:
            text = f"{exc}: type it again"
            continue
        await ctx.record(ManualVin(vin=vin, operator=answer.user, result="entered"))
        return vin


async def _read_tag(ctx: StepContext, name: str) -> tuple[bytes, str | None]:
    """The tag's memory and the VIN it carries (None for a blank tag)."""
    reader = ctx.devices.rfids[name]
    uids = await reader.scan()
    if not uids:
        raise StepFailed("hold", "no_tag", f"{name}: no tag in the field")
    if len(uids) > 1:
        raise StepFailed(
            "hold", "several_tags", f"{name}: {len(uids)} tags in the field: {', '.join(uids)}"
        )
    try:
        memory = await reader.read_blocks(0, tag.TAG_BYTES // reader.block_size)
    except AmbiguousRead as exc:
        raise StepFailed("hold", "several_tags", str(exc)) from exc
    try:
        progress = tag.decode(memory, ctx.route)
    except tag.BlankTag:
        return memory, None
    except tag.RouteMismatch as exc:
        return memory, exc.vin
    except tag.CorruptTag as exc:
        raise StepFailed("hold", "tag_corrupt", f"{name}: {exc}") from exc
    return memory, progress.vin
