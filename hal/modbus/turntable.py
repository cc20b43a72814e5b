"""The photo studio's turntable: a drive (VFD) on Modbus TCP (`hal.interfaces.Turntable`).

Design
------
- The drive has no positioning of its own: it runs at a commanded frequency,
  forward or reverse, and reports its status, fault code, output frequency
  and the table angle (encoder, or counted from the home switch). Positioning
  is done here: run at `run_frequency_hz`, slow down proportionally over the
  last `approach_deg` (not below `creep_frequency_hz`), command stop within
  half the `position_tolerance_deg` of the target (the table coasts a little
  while the drive ramps down), wait until the drive reports stopped, return
  the angle reached.
- Continuous rotation (`revolve`, the photo session): the drive's speed mode (control
  bit 4) turns the table at a table speed (`speed_command`, 0.1 degree/s: the drive
  closes the loop on its encoder); every fresh poll's travel is handed to the caller
  (who only follows the rotation: the camera system fires at its own encoder
  crossings); a stop is commanded once the travel is done, and the table coasts to a
  stop (no positioning).
- The poller (`PolledModbusDevice`) reads the status registers, always (it is also what
  detects a dead link): every `poll_interval_ms` while a command of this driver runs,
  every `idle_poll_interval_ms` while the table stands still (a command wakes it). A
  move acts on each new poll; a poll is used only if it was read after the last
  control word written, so a reply in flight during a command is never taken for its
  effect.
- Every move checks `zone_clear()` before it starts (refused:
  `TurntableFault(kind="zone_not_clear")`) and on every poll while it runs
  (stopped, then the same fault). A drive fault code, an angle that has not
  advanced for `stall_timeout_s` while running, or a homing that has not
  found the switch within `home_timeout_s` stop the table and raise
  `TurntableFault` with kind drive_fault, stall or home_not_found. A move
  cancelled by its owner commands stop before it ends.

Register semantics (the `DriveRegisters` docstrings) are shared with
`simulators.turntable` through `hal.modbus.drive_protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Mapping

import structlog

from hal.changes import Changes
from hal.config import ModbusTurntableConfig
from hal.errors import DeviceError, LinkDown, TurntableFault
from hal.interfaces import OnTravel, TurntableStatus, ZoneClear, wrap180
from hal.modbus.client import ModbusConnection, PolledModbusDevice, plan_reads
from hal.modbus.drive_protocol import (
    ANGLE_COUNT_DEG,
    CONTROL_FAULT_RESET,
    CONTROL_HOME,
    CONTROL_REVERSE,
    CONTROL_RUN,
    CONTROL_SPEED,
    SPEED_COUNT_DEG_S,
    STATUS_HOMED,
    STATUS_HOMING,
    STATUS_REVERSE,
    STATUS_RUNNING,
    STATUS_STOPPING,
)
from hal.modbus.wire import Table

log = structlog.get_logger(__name__)

_HOLDING: Table = "holding_register"


def decode_status(registers: Mapping[str, int]) -> TurntableStatus:
    """The drive's registers (status, fault_code, output_frequency, angle, speed) -> status."""
    state = registers["status"] & 0xFF
    return TurntableStatus(
        angle_deg=registers["angle"] * ANGLE_COUNT_DEG % 360.0,
        frequency_hz=registers["output_frequency"] / 100,
        running=state in (STATUS_STOPPING, STATUS_RUNNING, STATUS_HOMING),
        homed=bool(registers["status"] & STATUS_HOMED),
        fault_code=registers["fault_code"],
        speed_deg_s=registers.get("speed", 0) * SPEED_COUNT_DEG_S,
        reverse=bool(registers["status"] & STATUS_REVERSE),
    )


class _Progress:
    """Travel along the commanded direction, and when it last advanced."""

    def __init__(self, angle_deg: float, direction: float) -> None:
        self.direction = direction
        self.moved = 0.0
        self._last = angle_deg
        self._mark = 0.0
        self.advanced_at = time.monotonic()

    def update(self, angle_deg: float) -> None:
        self.moved += self.direction * wrap180(angle_deg - self._last)
        self._last = angle_deg
        if self.moved - self._mark >= ANGLE_COUNT_DEG:
            self._mark = self.moved
            self.advanced_at = time.monotonic()


class ModbusTurntable(PolledModbusDevice):
    """A turntable driven by a VFD over Modbus TCP, interlocked by `zone_clear`."""

    def __init__(self, name: str, config: ModbusTurntableConfig, zone_clear: ZoneClear) -> None:
        super().__init__(name, config)
        self.config = config
        self._zone_clear = zone_clear
        registers = config.registers
        self._blocks = plan_reads(
            {
                "status": (_HOLDING, registers.status),
                "fault_code": (_HOLDING, registers.fault_code),
                "output_frequency": (_HOLDING, registers.output_frequency),
                "angle": (_HOLDING, registers.angle),
                "speed": (_HOLDING, registers.speed),
            }
        )
        self._idle_s = config.idle_poll_interval_ms / 1000
        if self._idle_s >= config.link.stale_after_s:
            raise ValueError(
                f"{name}: idle_poll_interval_ms ({config.idle_poll_interval_ms}) must be below "
                f"link.stale_after_s ({config.link.stale_after_s * 1000:g} ms)"
            )
        self._motion = 0
        """Commands of this driver running (the poll is fast while any is)."""
        self._latest: TurntableStatus | None = None
        self._polls = 0
        self._commands = 0
        """Control words written so far; a poll remembers how many preceded its read."""
        self._latest_after = 0
        self._changes = Changes()
        self.link.on_change(lambda state: self._changes.notify())

    # --- the interface -------------------------------------------------------------------

    async def status(self) -> TurntableStatus:
        return await self._read_status(self.connection())

    def poll_period(self) -> float:
        return self.poll_interval_s if self._motion else self._idle_s

    @contextlib.contextmanager
    def _moving(self) -> Iterator[None]:
        """Fast polls while the block runs (woken at once)."""
        self._motion += 1
        self.wake()
        try:
            yield
        finally:
            self._motion -= 1

    async def home(self) -> None:
        with self._moving():
            await self._home()

    async def _home(self) -> None:
        self._refuse_unless_zone_clear("homing", None)
        timeout = self.config.home_timeout_s
        try:
            await self._command(CONTROL_RUN | CONTROL_HOME, self.config.run_frequency_hz)
            progress: _Progress | None = None
            async with asyncio.timeout(timeout):
                while True:
                    status = await self._next_status()
                    if status.homed and not status.running:
                        break
                    progress = progress or _Progress(status.angle_deg, 1.0)
                    progress.update(status.angle_deg)
                    self._check_motion(status, progress, "homing")
        except TimeoutError:
            angle = await self._stop_after_failure()
            raise TurntableFault(
                self.name,
                "home_not_found",
                f"home switch not found within {timeout} s",
                angle,
            ) from None
        except BaseException:
            await self._stop_after_failure()
            raise
        await self._command(0)

    async def rotate_by(self, delta_deg: float) -> float:
        with self._moving():
            return await self._move(delta_deg)

    async def revolve(self, travel_deg: float, speed_deg_s: float, on_travel: OnTravel) -> float:
        with self._moving():
            start = await self._startable()
            direction = 1.0 if travel_deg > 0 else -1.0
            try:
                await self._set_speed(abs(speed_deg_s))
                reverse = CONTROL_REVERSE if direction < 0 else 0
                await self._command(CONTROL_RUN | CONTROL_SPEED | reverse)
                progress = _Progress(start.angle_deg, direction)
                while progress.moved < abs(travel_deg):
                    status = await self._next_status()
                    progress.update(status.angle_deg)
                    self._check_motion(status, progress, "rotation")
                    await on_travel(progress.moved)
            except BaseException:
                await self._stop_after_failure()
                raise
            return (await self._stop_and_wait()).angle_deg

    async def reset_fault(self) -> None:
        with self._moving():
            await self._command(CONTROL_FAULT_RESET)
            await self._command(0)
            status = await self._next_status()
        if status.fault_code:
            raise TurntableFault(
                self.name,
                "drive_fault",
                f"drive fault code {status.fault_code} persists after a reset",
                status.angle_deg,
            )

    # --- moves ---------------------------------------------------------------------------

    async def _startable(self) -> TurntableStatus:
        """The status a rotation starts from; TurntableFault when it may not start."""
        self._refuse_unless_zone_clear("rotation", None)
        start = await self._next_status()
        self._check_drive(start)
        if self.config.angle_source == "home_switch" and not start.homed:
            raise TurntableFault(
                self.name,
                "not_homed",
                "rotation refused: the angle counts from the home switch and the table "
                "has not been homed",
                start.angle_deg,
            )
        return start

    async def _move(self, travel: float) -> float:
        config = self.config
        start = await self._startable()
        if abs(travel) <= config.position_tolerance_deg:
            return start.angle_deg
        direction = 1.0 if travel > 0 else -1.0
        frequency = config.run_frequency_hz
        try:
            control = CONTROL_RUN | (CONTROL_REVERSE if direction < 0 else 0)
            await self._command(control, frequency)
            progress = _Progress(start.angle_deg, direction)
            while True:
                status = await self._next_status()
                progress.update(status.angle_deg)
                self._check_motion(status, progress, "rotation")
                remaining = abs(travel) - progress.moved
                if remaining <= config.position_tolerance_deg / 2:
                    break  # the coast while stopping lands it within the tolerance
                wanted = self._approach_frequency(remaining)
                if wanted != frequency:
                    await self._set_frequency(wanted)
                    frequency = wanted
        except BaseException:
            await self._stop_after_failure()
            raise
        return (await self._stop_and_wait()).angle_deg

    def _approach_frequency(self, remaining_deg: float) -> float:
        """Full speed, then proportional to the distance left over the approach."""
        run = self.config.run_frequency_hz
        creep = min(self.config.creep_frequency_hz, run)
        fraction = min(1.0, remaining_deg / self.config.approach_deg)
        return round(max(creep, run * fraction), 2)

    def _check_motion(self, status: TurntableStatus, progress: _Progress, doing: str) -> None:
        self._check_drive(status)
        self._refuse_unless_zone_clear(doing, status.angle_deg)
        still = time.monotonic() - progress.advanced_at
        if still > self.config.stall_timeout_s:
            raise TurntableFault(
                self.name,
                "stall",
                f"{doing} stalled: angle has not advanced for {still:.2f} s "
                f"(stall_timeout_s {self.config.stall_timeout_s}) at {status.angle_deg:.1f} deg",
                status.angle_deg,
            )

    def _check_drive(self, status: TurntableStatus) -> None:
        if status.fault_code:
            raise TurntableFault(
                self.name,
                "drive_fault",
                f"drive fault code {status.fault_code} at {status.angle_deg:.1f} deg",
                status.angle_deg,
            )

    def _refuse_unless_zone_clear(self, doing: str, angle_deg: float | None) -> None:
        try:
            clear, why = self._zone_clear(), "zone not clear"
        except DeviceError as exc:
            clear, why = False, f"zone state unknown ({exc})"
        if clear:
            return
        if angle_deg is None:
            raise TurntableFault(self.name, "zone_not_clear", f"{doing} refused: {why}")
        raise TurntableFault(
            self.name, "zone_not_clear", f"{doing} stopped at {angle_deg:.1f} deg: {why}", angle_deg
        )

    async def _stop_and_wait(self) -> TurntableStatus:
        await self._command(0)
        timeout = self.config.stall_timeout_s
        try:
            async with asyncio.timeout(timeout):
                while True:
                    status = await self._next_status()
                    if not status.running and status.frequency_hz == 0:
                        return status
        except TimeoutError:
            raise TurntableFault(
                self.name,
                "drive_fault",
                f"drive still running {timeout} s after a stop command",
                self._latest.angle_deg if self._latest else None,
            ) from None

    async def _stop_after_failure(self) -> float | None:
        """Stop after a fault or a cancel; the caller re-raises what made it stop."""
        try:
            return (await self._stop_and_wait()).angle_deg
        except DeviceError as exc:
            log.error("turntable_stop_failed", device=self.name, error=str(exc))
            return None

    # --- registers -----------------------------------------------------------------------

    async def _command(self, control: int, frequency_hz: float | None = None) -> None:
        connection = self.connection()
        if frequency_hz is not None:
            await self._set_frequency(frequency_hz)
        await connection.write(_HOLDING, self.config.registers.control_word, [control])
        self._commands += 1

    async def _set_speed(self, speed_deg_s: float) -> None:
        register = self.config.registers.speed_command
        await self.connection().write(_HOLDING, register, [round(speed_deg_s / SPEED_COUNT_DEG_S)])

    async def _set_frequency(self, frequency_hz: float) -> None:
        register = self.config.registers.frequency_command
        await self.connection().write(_HOLDING, register, [round(frequency_hz * 100)])

    async def _read_status(self, connection: ModbusConnection) -> TurntableStatus:
        registers: dict[str, int] = {}
        for block in self._blocks:
            values = await connection.read(block.table, block.address, block.count)
            registers.update((name, values[offset]) for name, offset in block.points)
        return decode_status(registers)

    async def poll(self, connection: ModbusConnection) -> None:
        commands = self._commands
        self._latest = await self._read_status(connection)
        self._latest_after = commands
        self._polls += 1
        self._changes.notify()

    async def _next_status(self) -> TurntableStatus:
        """The status of a poll that ends after this call and was read after the last
        control word written; LinkDown as soon as the link is down."""
        polls, commands = self._polls, self._commands

        def fresh() -> bool:
            if not self.link.state.up:
                raise LinkDown(self.name, f"link down: {self.link.state.reason}")
            return self._polls > polls and self._latest_after >= commands

        await self._changes.wait_until(fresh, None)
        assert self._latest is not None  # a poll has completed
        return self._latest
