"""The turntable drive's register semantics, shared by the driver
(`hal.modbus.turntable`) and the simulator (`simulators.turntable`).

Where each register lives is configuration (`hal.config.DriveRegisters`);
what its bits and values mean is here.
"""

from __future__ import annotations

CONTROL_RUN = 0x1
CONTROL_REVERSE = 0x2
CONTROL_FAULT_RESET = 0x4
CONTROL_HOME = 0x8
CONTROL_SPEED = 0x10
"""Control word bits: run, reverse, fault reset, home, and speed mode (with run: the
drive turns the table at `speed_command`, closing the loop on its encoder, instead
of running at `frequency_command`)."""

STATUS_STOPPED = 0
STATUS_STOPPING = 1
STATUS_STANDBY = 2
STATUS_RUNNING = 3
STATUS_HOMING = 4
STATUS_HOMED = 0x100
STATUS_REVERSE = 0x200
"""Status register: the low byte is the run state, bit 8 is set once homed, bit 9
while the table turns in reverse (the direction)."""

ANGLE_COUNT_DEG = 0.1
"""One count of the angle register; progress is at least one count."""

SPEED_COUNT_DEG_S = 0.1
"""One count of the speed registers (commanded and measured table speed)."""
