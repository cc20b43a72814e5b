"""A turntable drive simulator: a VFD with its register map (`DriveRegisters`)
over Modbus TCP, turning a table with inertia.

Physics (`DriveModel`, no I/O): the output frequency ramps towards the
commanded one at `accel_hz_per_s` (and down to 0 on stop); the table turns at
`deg_per_s_per_hz` times the output frequency. In speed mode (control bit 4 with
run) the commanded frequency is the one that turns the table at `speed_command`
(0.1 degree/s); the `speed` register is the table's speed as the encoder measures it
(0 while jammed), status bit 9 the direction. Homing runs forward at the
commanded frequency until the table passes the home switch, then ramps down
and reports homed. The angle register is the encoder angle, or, with
`angle_source: home_switch`, the count since power-up and, once homed, since
the switch. At `time_scale` s every duration is s times as long (0.01: a
hundred times faster); the geometry (braking distance, overshoot) does not
change with it.

The model is advanced lazily, to the instant of each request (in the server's
request hook), so the registers a client reads are exact at that instant
whatever the poll rate.

Faults: `Stall(at_deg)`: the table jams when its angle reaches `at_deg`,
the drive keeps running (only the angle tells); `DriveFault(code)`: the drive
trips, output off, until a fault reset; `HomeNotFound()`: the home switch
never answers. Link faults as in `simulators.modbus_server`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from hal.config import ModbusTurntableConfig
from hal.modbus import drive_protocol as drive
from hal.modbus.wire import Table
from simulators.modbus_server import (
    ExceptionReply,
    LinkDrop,
    ModbusSimServer,
    ModbusSimulator,
    SlowReplies,
    standalone_address,
)

__all__ = [
    "DriveFault",
    "DriveModel",
    "ExceptionReply",
    "HomeNotFound",
    "LinkDrop",
    "SimTurntable",
    "SlowReplies",
    "Stall",
    "run_standalone",
]

STEP_S = 0.005
"""Integration step of the physics, in unscaled seconds."""

_ILLEGAL_ADDRESS = 2


@dataclass(frozen=True)
class Stall:
    """The table jams when its (reported) angle reaches `at_deg`; cleared by clear_faults()."""

    at_deg: float


@dataclass(frozen=True)
class DriveFault:
    """The drive trips with fault `code` (output off) until a fault reset."""

    code: int

    def __post_init__(self) -> None:
        if not 1 <= self.code <= 65535:
            raise ValueError(f"DriveFault.code must be 1..65535 (got {self.code})")


@dataclass(frozen=True)
class HomeNotFound:
    """The home switch never answers; cleared by clear_faults()."""


TurntableFaultInjection = (
    Stall | DriveFault | HomeNotFound | LinkDrop | SlowReplies | ExceptionReply
)


def _crossed(start: float, end: float, mark: float) -> bool:
    """Did a move from `start` to `end` (continuous degrees) pass `mark` (mod 360)?"""
    return math.floor((end - mark) / 360.0) != math.floor((start - mark) / 360.0)


class DriveModel:
    """The drive and its table, in unscaled seconds."""

    def __init__(
        self,
        *,
        start_deg: float,
        home_deg: float,
        deg_per_s_per_hz: float,
        accel_hz_per_s: float,
        counted: bool,
    ) -> None:
        self.position = start_deg
        """Physical table angle, continuous (not folded), degrees."""
        self.frequency = 0.0
        """Output frequency, Hz."""
        self.command_hz = 0.0
        self.speed_command = 0.0
        """Table speed wanted in speed mode, degree/s."""
        self.speed_mode = False
        self.direction = 1.0
        self.mode = "idle"
        """idle, run, homing or stopping."""
        self.fault = 0
        self.homed = False
        self.stall_at: float | None = None
        self.stalled = False
        self.home_switch_works = True
        self._home_deg = home_deg
        self._gain = deg_per_s_per_hz
        self._accel = accel_hz_per_s
        self._counted = counted
        self._zero = start_deg if counted else 0.0

    @property
    def counts(self) -> float:
        """The encoder's angle, continuous (not folded): the angle register before the fold."""
        return self.position - self._zero

    @property
    def angle(self) -> float:
        """The angle the drive reports, degrees in [0, 360)."""
        return self.counts % 360.0

    def write_control(self, word: int) -> None:
        if word & drive.CONTROL_FAULT_RESET:
            self.fault = 0
        if self.fault:
            return
        if word & drive.CONTROL_RUN and word & drive.CONTROL_HOME:
            if self.mode != "homing":
                self.mode, self.homed, self.direction = "homing", False, 1.0
        elif word & drive.CONTROL_RUN:
            self.mode = "run"
            self.direction = -1.0 if word & drive.CONTROL_REVERSE else 1.0
            self.speed_mode = bool(word & drive.CONTROL_SPEED)
        else:
            self.mode = "stopping" if self.frequency > 0 else "idle"

    def write_frequency(self, centi_hz: int) -> None:
        self.command_hz = centi_hz / 100

    def write_speed(self, counts: int) -> None:
        self.speed_command = counts * drive.SPEED_COUNT_DEG_S

    @property
    def target_hz(self) -> float:
        """The frequency the drive runs at when running."""
        return self.speed_command / self._gain if self.speed_mode else self.command_hz

    def trip(self, code: int) -> None:
        self.fault, self.frequency, self.mode = code, 0.0, "idle"

    def advance(self, seconds: float) -> None:
        if seconds > 0 and self.frequency == 0 and self._target() == 0:
            self._step(seconds)  # standing still and staying so: one step is exact
            return
        while seconds > 0:
            step = min(STEP_S, seconds)
            seconds -= step
            self._step(step)

    def _target(self) -> float:
        """The frequency the output ramps towards now."""
        driving = self.mode in ("run", "homing") and not self.fault
        return self.target_hz if driving else 0.0

    def _step(self, dt: float) -> None:
        target = self._target()
        ramp = self._accel * dt
        if self.frequency < target:
            self.frequency = min(target, self.frequency + ramp)
        else:
            self.frequency = max(target, self.frequency - ramp)
        if self.mode == "stopping" and self.frequency == 0:
            self.mode = "idle"
        if self.stalled:
            return
        end = self.position + self.direction * self._gain * self.frequency * dt
        if self.stall_at is not None and _crossed(
            self.position - self._zero, end - self._zero, self.stall_at
        ):
            self.stalled = True
            return
        if (
            self.mode == "homing"
            and self.home_switch_works
            and _crossed(self.position, end, self._home_deg)
        ):
            self.homed, self.mode = True, "stopping"
            if self._counted:
                self._zero = self._home_deg
        self.position = end

    def registers(self) -> dict[str, int]:
        """The readable registers, by `DriveRegisters` field name."""
        if self.fault or self.mode == "idle":
            state = drive.STATUS_STOPPED
        elif self.mode == "homing":
            state = drive.STATUS_HOMING
        elif self.mode == "stopping":
            state = drive.STATUS_STOPPING
        else:
            state = drive.STATUS_RUNNING if self.target_hz > 0 else drive.STATUS_STANDBY
        reverse = self.direction < 0 and state in (drive.STATUS_RUNNING, drive.STATUS_STOPPING)
        speed = 0.0 if self.stalled else self._gain * self.frequency
        return {
            "status": state
            | (drive.STATUS_HOMED if self.homed else 0)
            | (drive.STATUS_REVERSE if reverse else 0),
            "speed": round(speed / drive.SPEED_COUNT_DEG_S),
            "fault_code": self.fault,
            "output_frequency": round(self.frequency * 100),
            "angle": round(self.angle / drive.ANGLE_COUNT_DEG) % round(360 / drive.ANGLE_COUNT_DEG),
        }


class SimTurntable(ModbusSimulator):
    """A simulated turntable drive speaking Modbus TCP."""

    def __init__(
        self,
        config: ModbusTurntableConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        *,
        start_deg: float = 0.0,
        home_deg: float = 0.0,
        deg_per_s_per_hz: float = 0.45,
        accel_hz_per_s: float = 100.0,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0 (got {time_scale})")
        self.config = config
        self.time_scale = time_scale
        self.model = DriveModel(
            start_deg=start_deg,
            home_deg=home_deg,
            deg_per_s_per_hz=deg_per_s_per_hz,
            accel_hz_per_s=accel_hz_per_s,
            counted=config.angle_source == "home_switch",
        )
        self._registers: dict[str, int] = config.registers.model_dump()
        registers = config.registers
        self._writable = {
            registers.control_word,
            registers.frequency_command,
            registers.speed_command,
        }
        self._server = ModbusSimServer(
            "sim-turntable",
            config.device_id,
            {"holding_register": self._registers.values()},
            self._on_request,
            host=host,
            port=port,
        )
        self._clock = time.monotonic()
        self._refresh()

    async def start(self) -> None:
        self._clock = time.monotonic()
        await super().start()

    def inject(self, fault: TurntableFaultInjection) -> None:
        self._advance()
        if isinstance(fault, Stall):
            self.model.stall_at = fault.at_deg
        elif isinstance(fault, DriveFault):
            self.model.trip(fault.code)
        elif isinstance(fault, HomeNotFound):
            self.model.home_switch_works = False
        else:
            self._server.inject(fault)
        self._refresh()

    def clear_faults(self) -> None:
        """End injected conditions (a tripped drive stays tripped until a fault reset)."""
        self._advance()
        self.model.stall_at = None
        self.model.stalled = False
        self.model.home_switch_works = True
        self._server.clear_faults()

    @property
    def angle_deg(self) -> float:
        self._advance()
        return self.model.angle

    @property
    def encoder_deg(self) -> float:
        """The table's encoder now, continuous degrees (what a camera system's encoder
        input counts: `angle_deg` is it folded into [0, 360))."""
        self._advance()
        return self.model.counts

    @property
    def frequency_hz(self) -> float:
        self._advance()
        return self.model.frequency

    def _advance(self) -> None:
        now = time.monotonic()
        self.model.advance((now - self._clock) / self.time_scale)
        self._clock = now

    def _refresh(self) -> None:
        for name, value in self.model.registers().items():
            self._server.store("holding_register", self._registers[name], [value])

    def _on_request(self, table: Table, address: int, values: list[int] | None) -> int | None:
        self._advance()
        if values is not None:
            addresses = range(address, address + len(values))
            if not all(a in self._writable for a in addresses):
                return _ILLEGAL_ADDRESS  # status registers are read only
            self._server.store(table, address, values)
            for register, value in zip(addresses, values, strict=True):
                if register == self.config.registers.frequency_command:
                    self.model.write_frequency(value)
                elif register == self.config.registers.speed_command:
                    self.model.write_speed(value)
                else:
                    self.model.write_control(value)
        self._refresh()
        return None


async def run_standalone(
    config: ModbusTurntableConfig, listen: tuple[str, int] | None = None, pty: str | None = None
) -> None:
    """Serve the drive for a bench until cancelled."""
    host, port = standalone_address("turntable", listen, pty)
    await SimTurntable(config, host, port).run_until_cancelled("turntable")
