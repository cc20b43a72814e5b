"""The photo session: a turntable sweep with a camera shot at every step.

Generic over the interfaces (`Turntable`, `PlcIo`): home (if asked), then
`steps` times: turn by `step_deg`, settle, pulse the camera output on the PLC,
report the shot. Each step aims at `start + (index + 1) * step_deg`, so the
small over- or undershoot of one stop is corrected by the next move instead of
adding up over the revolution.

A fault never escapes as an exception: rotation is stopped by the turntable
driver, the camera output is set back to 0, and the session is returned
incomplete with the shots taken so far and the fault. Faults of other devices
on the way (the PLC's camera output, a lost link) are reported as a
`TurntableFault` too, with kind `camera_trigger` or `link_down` and the
original error as its cause, so that the caller has one kind of fault to
journal. Cancellation is not a fault: it propagates (after the same stop).

Boundary: journaling the shots and deciding Aborted/Held is the caller's
(`on_shot` is awaited after each shot, before the next move).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from hal.errors import DeviceError, LinkDown, RequestTimeout, TurntableFault
from hal.interfaces import PlcIo, Turntable


class Shot(NamedTuple):
    """One camera trigger: its number in the sweep (from 0) and the table angle it was
    taken at. A tuple: `for number, angle in result.shots`."""

    number: int
    angle_deg: float


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: the shots taken, whether all were, and why not."""

    shots: tuple[Shot, ...]
    complete: bool
    fault: TurntableFault | None
    steps: int
    """Shots the sweep was asked for."""
    start_deg: float | None = None
    """The angle the steps count from (after homing); None if the sweep failed before."""


OnShot = Callable[[int, float], Awaitable[None]]
"""Called with (index, angle_deg) after each shot."""


async def sweep(
    turntable: Turntable,
    plc: PlcIo,
    *,
    steps: int,
    step_deg: float,
    settle_s: float,
    trigger_s: float,
    camera_output: str,
    home_first: bool,
    on_shot: OnShot | None = None,
) -> SweepResult:
    """Run one photo session; never raises a device error (see the module docstring)."""
    if steps < 1 or step_deg <= 0:
        raise ValueError(f"sweep needs steps >= 1 and step_deg > 0 (got {steps}, {step_deg})")
    shots: list[Shot] = []
    start: float | None = None
    try:
        if home_first:
            await turntable.home()
        start = (await turntable.status()).angle_deg
        error = 0.0
        for index in range(steps):
            reached = await turntable.rotate_by(step_deg - error)
            aim = start + (index + 1) * step_deg
            error = (reached - aim + 180.0) % 360.0 - 180.0  # folded into [-180, 180)
            await asyncio.sleep(settle_s)
            await _pulse(plc, camera_output, trigger_s)
            shots.append(Shot(index, reached))
            if on_shot is not None:
                await on_shot(index, reached)
    except TurntableFault as exc:
        return SweepResult(tuple(shots), False, exc, steps, start)
    except DeviceError as exc:
        return SweepResult(tuple(shots), False, _as_fault(exc, plc), steps, start)
    return SweepResult(tuple(shots), True, None, steps, start)


async def _pulse(plc: PlcIo, output: str, seconds: float) -> None:
    await plc.write(output, 1)
    try:
        await asyncio.sleep(seconds)
    finally:
        await plc.write(output, 0)


def _as_fault(exc: DeviceError, plc: PlcIo) -> TurntableFault:
    if isinstance(exc, LinkDown | RequestTimeout):
        kind = "link_down"
    elif exc.device == plc.name:
        kind = "camera_trigger"
    else:
        kind = "drive_fault"
    fault = TurntableFault(exc.device, kind, exc.message)
    fault.__cause__ = exc
    return fault
