"""The inspect step: a verdict, with the findings and the measurements that come with it.

- From an inspection system (`device:`): the station writes the VIN, awaits
  'VIN:pass' / 'VIN:fail' on the verdict node, then, with a `result_node`, reads the
  result document (`station.findings` documents it): its measurements named in
  `quantities` are judged against their limits and journaled (`measured`, source
  `device:NAME`), its findings journaled (`finding`, complete), then the verdict.
- From an inspector: with `ask_findings`, the console asks for findings first, one code
  of the station's `findings:` catalogue at a time (prompt kind `finding`, 'CODE
  [note]'; a code not in the catalogue is refused and asked again), each journaled as
  it is typed, until the inspector types 'none' (journaled too); then the verdict.
- Journal first, never twice: a journaled verdict, a journaled finding, a journaled
  measurement is not asked or taken again after a hold, an abort or a crash. A device
  inspection whose verdict was not journaled is run again; what its new result repeats
  of what was journaled is not journaled twice.
- The gate fails on a finding whose severity is in the step's `fail_on` (default major
  and critical) or on a value out of its limits, whatever the verdict (`Visit.outcome`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from station import findings, limits
from station.config.models import InspectStep
from station.events import Finding, FindingData, Verdict
from station.journal.untrusted import bound_text
from station.measure import journal_values
from station.step_context import StepContext, StepFailed


async def inspect(ctx: StepContext, index: int, step: InspectStep) -> None:
    """Run an inspect step for the vehicle in the station (see the module docstring)."""
    visit = ctx.visit
    assert visit.vin is not None
    if index in visit.verdicts:
        return  # asked before a crash or a hold: never asked twice
    where = f"{index}:inspect"
    operator: str | None = None
    if step.device is None:
        if step.ask_findings:
            await _typed_findings(ctx, index, step)
        try:
            answer = await ctx.prompts.ask(
                "verdict",
                f"verdict for {visit.vin} at {ctx.station.operation}",
                frozenset({"inspector", "supervisor"}),
                options=("pass", "fail"),
                timeout=step.timeout_s,
            )
        except TimeoutError as exc:
            raise StepFailed("hold", "verdict_timeout", "no verdict entered in time") from exc
        verdict, operator = answer.value, answer.user
    else:
        verdict = await _device_verdict(ctx, step, visit.vin)
        if step.result_node is not None:
            await _device_result(ctx, index, step, step.device, step.result_node)
    await ctx.record(
        Verdict(vin=visit.vin, step=where, result=verdict, operator=operator or step.device)
    )


async def _typed_findings(ctx: StepContext, index: int, step: InspectStep) -> None:
    visit = ctx.visit
    assert visit.vin is not None
    catalogue = ctx.station.findings
    roles = frozenset({"inspector", "supervisor"})

    def check(text: str) -> str | None:
        if text.strip().lower() == findings.NONE:
            return None
        return findings.parse_typed(text, catalogue)[1]

    while index not in visit.findings_complete:
        found = visit.findings.get(index, [])
        text = (
            f"findings for {visit.vin} at {ctx.station.operation} "
            f"({len(found)} so far: {findings.listed(found)}): type a code of the catalogue "
            f"and a note, or '{findings.NONE}' when there is no more"
        )
        try:
            answer = await ctx.prompts.ask(
                "finding", text, roles, item=len(found), timeout=step.timeout_s, check=check
            )
        except TimeoutError as exc:
            raise StepFailed("hold", "finding_timeout", "no finding entered in time") from exc
        if answer.value.strip().lower() == findings.NONE:
            await _journal_findings(ctx, index, step, [], "typed", answer.user, complete=True)
            continue
        finding, problem = findings.parse_typed(answer.value, catalogue)
        assert finding is not None, problem  # the prompt's check refused anything else
        await _journal_findings(ctx, index, step, [finding], "typed", answer.user, complete=False)


async def _journal_findings(
    ctx: StepContext,
    index: int,
    step: InspectStep,
    found: list[FindingData],
    source: str,
    operator: str,
    *,
    complete: bool,
) -> None:
    assert ctx.visit.vin is not None
    await ctx.record(
        Finding(
            vin=ctx.visit.vin,
            step=f"{index}:inspect",
            result=findings.judge(found, step.fail_on),
            operator=operator,
            data={
                "source": source,
                "findings": found,
                "fail_on": list(step.fail_on),
                "complete": complete,
            },
        )
    )


async def _device_result(
    ctx: StepContext, index: int, step: InspectStep, device: str, node: str
) -> None:
    """The result document read after the verdict: its measurements and findings."""
    visit = ctx.visit
    vin = visit.vin
    raw = await ctx.devices.opcua[device].read(node)
    try:
        result = findings.parse_result(str(raw))
    except findings.BadResult as exc:
        raise StepFailed("hold", "result_invalid", f"{device}: {exc}") from exc
    if result.vin != vin:
        raise StepFailed(
            "hold", "result_invalid", f"{device}: the result is of {result.vin!r}, not of {vin}"
        )
    taken = visit.measured.get(index, {})
    values: dict[str, float] = {}
    for name, quantity in step.quantities.items():
        if name in taken:
            continue
        measurement = result.measurements.get(name)
        if measurement is None:
            raise StepFailed("hold", "measurement_missing", f"{device} gave no {name} for {vin}")
        problem = limits.physical_problem(measurement.value, quantity)
        if measurement.unit not in ("", quantity.unit):
            problem = f"in {measurement.unit!r}, not in {quantity.unit!r}"
        if problem is not None:
            raise StepFailed(
                "hold",
                "measurement_out_of_range",
                f"{device} gave {name} = {problem}: the device is wrong, inspect again",
                data={"device": device, "quantity": name, "value": repr(measurement.value)},
            )
        values[name] = measurement.value
    if values:
        where = f"{index}:inspect"
        source = f"device:{device}"
        await journal_values(ctx, where, step.quantities, values, source=source, operator=device)
    if index not in visit.findings_complete:
        await _journal_findings(
            ctx, index, step, result.findings, f"device:{device}", device, complete=True
        )


async def _device_verdict(ctx: StepContext, step: InspectStep, vin: str) -> str:
    assert step.device is not None
    device = ctx.devices.opcua[step.device]
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
    text = bound_text(str(value), 64).strip().lower()
    if ":" in text:
        who, _, text = text.partition(":")
        if who.upper() != vin:
            return None
    return text if text in ("pass", "fail") else None
