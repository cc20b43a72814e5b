"""The measure step: named quantities read from a device or typed by an inspector,
each judged against its limits (`station.limits`) and journaled with them.

- Quantities are taken in the order of the step: those of one device are read
  together (a tester: one start, one ready bit; an OPC UA device: one read per node,
  `station.measure_nodes`) and journaled as one `measured` event for all of them,
  a typed one is asked alone (one prompt, one `measured` event).
- Journal first, and never twice: a quantity the visit already holds (`Visit.measured`,
  folded from the `measured` events) is not read or asked again, after a hold, an
  abort or a crash; one that was read or typed but not journaled is read or asked
  again (the device starts a new measurement).
- A typed value outside the physical range is refused by the station's command
  (`Control.answer`, journaled as `refused` with reason out_of_range) and the prompt
  stays open; a device value outside it holds the vehicle (`measurement_out_of_range`:
  the device is wrong, not the vehicle; a supervisor retries or removes), as does an
  OPC UA value that is not a number; an OPC UA read with a bad status holds it too
  (`measurement_bad_status`), as does no ready bit in time (`measurement_timeout`);
  a link lost mid-measurement aborts the station like any device fault
  (`link_lost`), and the measurement is taken again once it resumes.
- The step never decides alone: a value out of its limits makes the visit's outcome
  failed (`Visit.outcome`), whatever a later verdict says.
"""

from __future__ import annotations

from collections.abc import Mapping

from hal.config import ModbusBatteryTesterConfig, OpcUaDeviceConfig
from hal.errors import MeasurementFailed
from station import limits
from station.config.models import MeasureStep, Quantity
from station.events import Measured, MeasuredValue
from station.measure_nodes import read_nodes
from station.step_context import StepContext, StepFailed


async def measure(ctx: StepContext, index: int, step: MeasureStep) -> None:
    """Run a measure step for the vehicle in the station (see the module docstring)."""
    done = ctx.visit.measured.get(index, {})
    todo = [name for name in step.quantities if name not in done]
    while todo:
        ctx.report.progress = 1 - len(todo) / len(step.quantities)
        ctx.report.changed()
        first = step.quantities[todo[0]]
        if first.device is None:
            await _typed(ctx, index, step, todo[0])
            todo = todo[1:]
        else:
            batch = [name for name in todo if step.quantities[name].device == first.device]
            await _read(ctx, index, step, first.device, batch)
            todo = [name for name in todo if name not in batch]


async def _read(
    ctx: StepContext, index: int, step: MeasureStep, device: str, names: list[str]
) -> None:
    vin = ctx.visit.vin
    assert vin is not None
    quantities = {name: step.quantities[name] for name in names}
    section = ctx.station.devices[device]
    if isinstance(section, OpcUaDeviceConfig):
        nodes = {name: q.node for name, q in quantities.items() if q.node is not None}
        raw = await read_nodes(ctx.devices.opcua[device], device, nodes)
    else:
        assert isinstance(section, ModbusBatteryTesterConfig)  # config checks
        raw = await _tester_values(ctx, device, section, quantities)
    values: dict[str, float] = {}
    for name, quantity in quantities.items():
        value = raw[name]
        problem = limits.physical_problem(value, quantity)
        if problem is not None:
            raise StepFailed(
                "hold",
                "measurement_out_of_range",
                f"{device} gave {name} = {problem}: the device is wrong, measure again",
                data={"device": device, "quantity": name, "value": repr(value)},
            )
        values[name] = value
    await journal_values(
        ctx, f"{index}:measure", step.quantities, values, source=f"device:{device}", operator=device
    )


async def _tester_values(
    ctx: StepContext,
    device: str,
    section: ModbusBatteryTesterConfig,
    quantities: Mapping[str, Quantity],
) -> dict[str, float]:
    """One measurement of the tester: the value of each quantity, by name."""
    registers = {name: q.register_name for name, q in quantities.items() if q.register_name}
    timeout = section.measure_timeout_s * ctx.time_scale  # the simulated tester is as fast
    try:
        raw = await ctx.devices.testers[device].measure(list(registers.values()), timeout)
    except MeasurementFailed as exc:
        raise StepFailed("hold", "measurement_timeout", str(exc)) from exc
    return {name: raw[register] for name, register in registers.items()}


async def _typed(ctx: StepContext, index: int, step: MeasureStep, name: str) -> None:
    vin = ctx.visit.vin
    quantity = step.quantities[name]

    def check(text: str) -> str | None:
        return limits.parse_typed(text, quantity)[1]

    text = (
        f"{name} of {vin} in {quantity.unit}: limits {limits.describe(quantity)}, "
        f"{quantity.decimals} decimal(s), "
        f"range {quantity.physical_min:g}..{quantity.physical_max:g}"
    )
    try:
        answer = await ctx.prompts.ask(
            "measurement",
            text,
            frozenset({step.role, "supervisor"}),
            item=list(step.quantities).index(name),
            timeout=step.timeout_s,
            name=name,
            check=check,
        )
    except TimeoutError as exc:
        raise StepFailed(
            "hold", "measurement_timeout", f"no value of {name} entered in {step.timeout_s} s"
        ) from exc
    value, problem = limits.parse_typed(answer.value, quantity)
    assert value is not None, problem  # the prompt's check refused anything else
    await journal_values(
        ctx,
        f"{index}:measure",
        step.quantities,
        {name: value},
        source="typed",
        operator=answer.user,
    )


async def journal_values(
    ctx: StepContext,
    where: str,
    quantities: Mapping[str, Quantity],
    values: dict[str, float],
    *,
    source: str,
    operator: str,
) -> None:
    """One `measured` event: the values judged against their quantities' limits."""
    entries = [judged(name, quantities[name], value) for name, value in values.items()]
    assert ctx.visit.vin is not None
    await ctx.record(
        Measured(
            vin=ctx.visit.vin,
            step=where,
            result="pass" if all(entry["ok"] for entry in entries) else "fail",
            operator=operator,
            data={"source": source, "values": entries},
        )
    )


def judged(name: str, quantity: Quantity, value: float) -> MeasuredValue:
    """A value rounded to its decimals, with its limits and whether it is within them."""
    shown = limits.rounded(value, quantity.decimals)
    return {
        "name": name,
        "value": shown,
        "unit": quantity.unit,
        "decimals": quantity.decimals,
        "low": quantity.low,
        "low_inclusive": quantity.low_inclusive,
        "high": quantity.high,
        "high_inclusive": quantity.high_inclusive,
        "ok": limits.within(shown, quantity),
    }
