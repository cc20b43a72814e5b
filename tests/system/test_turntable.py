"""The turntable driver and the sweep against the drive and PLC simulators over real
TCP (docs/faults.md rows 18-19), and the drive's physics model without I/O.

The drive runs at time_scale 0.05 (a 10 degree step takes about 0.1 s instead
of 2 s); angles, tolerances and braking distances are not scaled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from modbus_rig import plc_config, plc_rig, poll_until, turntable_config, turntable_rig

from hal.errors import TurntableFault
from hal.modbus.drive_protocol import CONTROL_HOME, CONTROL_RUN, STATUS_HOMED, STATUS_RUNNING
from hal.modbus.plc import ModbusPlc
from hal.modbus.turntable import decode_status, wrap180
from hal.sweep import SweepResult, sweep
from simulators.plc import SimPlc
from simulators.turntable import DriveFault, DriveModel, HomeNotFound, SimTurntable, Stall

SCALE = 0.05
TOLERANCE = 0.5


# --- the drive model, no I/O -------------------------------------------------------------


def model(**changes: float | bool) -> DriveModel:
    options: dict[str, float | bool] = {
        "start_deg": 0.0,
        "home_deg": 0.0,
        "deg_per_s_per_hz": 0.45,
        "accel_hz_per_s": 100.0,
        "counted": False,
    }
    return DriveModel(**{**options, **changes})  # type: ignore[arg-type]


def test_the_drive_ramps_up_turns_the_table_and_ramps_down() -> None:
    drive = model()
    drive.write_frequency(2000)
    drive.write_control(CONTROL_RUN)
    drive.advance(0.1)
    assert drive.frequency == pytest.approx(10.0)
    drive.advance(1.0)
    assert drive.frequency == pytest.approx(20.0)
    assert drive.registers()["status"] == STATUS_RUNNING
    moved = drive.angle
    assert moved == pytest.approx(0.45 * (0.5 * 20 * 0.2 + 20 * 0.9), abs=0.1)
    drive.write_control(0)
    drive.advance(1.0)
    assert drive.frequency == 0 and drive.mode == "idle"
    assert drive.angle == pytest.approx(moved + 0.45 * 0.5 * 20 * 0.2, abs=0.1)  # braking


def test_homing_stops_past_the_switch_and_zeroes_a_counted_angle() -> None:
    drive = model(start_deg=300.0, home_deg=10.0, counted=True)
    assert drive.angle == 0  # counted from power-up
    drive.write_frequency(2000)
    drive.write_control(CONTROL_RUN | CONTROL_HOME)
    drive.advance(30.0)
    registers = drive.registers()
    assert registers["status"] & STATUS_HOMED
    assert drive.mode == "idle"
    assert 0 < drive.angle < 2.0  # just past the switch: the braking distance


def test_a_stall_freezes_the_angle_while_the_drive_keeps_running() -> None:
    drive = model()
    drive.stall_at = 30.0
    drive.write_frequency(2000)
    drive.write_control(CONTROL_RUN)
    drive.advance(10.0)
    assert drive.angle == pytest.approx(30.0, abs=0.1)
    assert drive.frequency == pytest.approx(20.0)


def test_status_registers_decode() -> None:
    status = decode_status(
        {
            "status": STATUS_RUNNING | STATUS_HOMED,
            "fault_code": 0,
            "output_frequency": 1250,
            "angle": 3599,
        }
    )
    assert status.running and status.homed
    assert status.frequency_hz == 12.5
    assert status.angle_deg == pytest.approx(359.9)
    assert wrap180(350.0) == -10.0 and wrap180(-190.0) == 170.0


# --- against the simulators ---------------------------------------------------------------


class Studio:
    """PLC and turntable simulators with their drivers; the zone interlock is the PLC's."""

    def __init__(self, sim_plc: SimPlc, plc: ModbusPlc, sim: SimTurntable, table: object) -> None:
        self.sim_plc, self.plc, self.sim, self.table = sim_plc, plc, sim, table

    async def sweep(self, steps: int = 36, **options: object) -> SweepResult:
        settings: dict[str, object] = {
            "steps": steps,
            "step_deg": 10.0,
            "settle_s": 0.002,
            "trigger_s": 0.005,
            "camera_output": "camera_trigger",
            "home_first": True,
            **options,
        }
        return await sweep(self.table, self.plc, **settings)  # type: ignore[arg-type]

    def camera_writes(self, value: int) -> int:
        return sum(
            1 for w in self.sim_plc.writes if w.name == "camera_trigger" and w.value == value
        )


@pytest.fixture
async def studio() -> AsyncIterator[Studio]:
    async with plc_rig(plc_config()) as (sim_plc, plc):

        def zone_clear() -> bool:
            return plc.value("zone_clear") == 1

        config = turntable_config()
        async with turntable_rig(config, zone_clear, time_scale=SCALE, start_deg=340.0) as (
            sim,
            table,
        ):
            yield Studio(sim_plc, plc, sim, table)


async def test_a_sweep_of_36_steps_takes_36_shots(studio: Studio) -> None:
    reported: list[tuple[int, float]] = []

    async def on_shot(number: int, angle: float) -> None:
        reported.append((number, angle))

    result = await studio.sweep(36, on_shot=on_shot)
    assert result.fault is None and result.complete
    assert [number for number, _ in result.shots] == list(range(36))
    assert reported == list(result.shots)
    assert result.start_deg is not None and abs(wrap180(result.start_deg)) < 2.0  # homed
    errors = [abs(wrap180(a - result.start_deg - 10.0 * (n + 1))) for n, a in result.shots]
    assert max(errors) < 5.0, errors  # every shot at its own step
    # Within the tolerance, but for the odd stop overshot while a loaded machine
    # delayed a poll (at 20 times real speed a 20 ms hiccup is 3.6 degrees).
    assert sum(e <= TOLERANCE for e in errors) >= 32, errors
    assert studio.camera_writes(1) == 36 and studio.camera_writes(0) == 36
    assert studio.sim_plc.output("camera_trigger") == 0
    assert studio.sim.frequency_hz == 0


async def test_a_stall_stops_the_table_and_leaves_the_session_incomplete(studio: Studio) -> None:
    studio.sim.inject(Stall(at_deg=95.0))
    result = await studio.sweep(36)
    assert not result.complete
    assert result.fault is not None and result.fault.kind == "stall"
    assert result.fault.angle_deg == pytest.approx(95.0, abs=0.2)
    assert len(result.shots) == 9  # 10 .. 90 degrees
    assert studio.sim.frequency_hz == 0  # stopped before the sweep returned
    assert studio.camera_writes(1) == 9
    assert studio.sim_plc.output("camera_trigger") == 0


async def test_a_drive_fault_stops_the_sweep_and_can_be_reset(studio: Studio) -> None:
    async def trip_mid_move() -> None:
        await poll_until(lambda: 45.0 < studio.sim.angle_deg < 180.0, timeout=5.0)
        studio.sim.inject(DriveFault(31))

    tripping = asyncio.create_task(trip_mid_move(), name="trip")
    result = await studio.sweep(36)
    await tripping
    assert result.fault is not None and result.fault.kind == "drive_fault"
    assert "fault code 31" in result.fault.message
    assert 4 <= len(result.shots) < 36
    await studio.table.reset_fault()  # type: ignore[attr-defined]
    assert (await studio.table.status()).fault_code == 0  # type: ignore[attr-defined]


async def test_rotation_is_refused_while_the_zone_is_not_clear(studio: Studio) -> None:
    studio.sim_plc.set_input("zone_clear", 0)
    await studio.plc.wait_for("zone_clear", 0, timeout=1.0)
    control = turntable_config().registers.control_word
    result = await studio.sweep(36)
    assert result.fault is not None and result.fault.kind == "zone_not_clear"
    assert "refused" in result.fault.message
    assert result.shots == () and not result.complete
    assert studio.sim.requests["write", "holding_register", control] == 0  # never commanded


async def test_a_zone_lost_during_a_move_stops_the_table() -> None:
    clear = [True]
    async with turntable_rig(turntable_config(), lambda: clear[0], time_scale=SCALE) as (
        sim,
        table,
    ):
        moving = asyncio.create_task(table.rotate_by(180.0), name="move")
        await poll_until(lambda: sim.angle_deg > 20.0, timeout=2.0)
        clear[0] = False
        with pytest.raises(TurntableFault) as caught:
            await moving
        assert caught.value.kind == "zone_not_clear"
        assert "stopped at" in caught.value.message
        assert sim.frequency_hz == 0
        assert 20.0 < sim.angle_deg < 90.0


async def test_home_not_found_stops_the_table() -> None:
    config = turntable_config(home_timeout_s=1.0)
    async with turntable_rig(config, lambda: True, time_scale=SCALE, start_deg=10.0) as (
        sim,
        table,
    ):
        sim.inject(HomeNotFound())
        with pytest.raises(TurntableFault) as caught:
            await table.home()
        assert caught.value.kind == "home_not_found"
        assert "within 1.0 s" in caught.value.message
        assert sim.frequency_hz == 0
