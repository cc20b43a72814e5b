"""The turntable driver and the sweep against the drive and PLC simulators over real
TCP (docs/faults.md rows 18-19), and the drive's physics model without I/O.

The drive runs at time_scale 0.05 (a 10 degree step takes about 0.1 s instead
of 2 s); angles, tolerances and braking distances are not scaled.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from modbus_rig import (
    FAST_LINK,
    camera_config,
    plc_config,
    plc_rig,
    poll_until,
    turntable_config,
    turntable_rig,
)

from hal.errors import TurntableFault
from hal.interfaces import wrap180
from hal.modbus.drive_protocol import CONTROL_HOME, CONTROL_RUN, STATUS_HOMED, STATUS_RUNNING
from hal.modbus.plc import ModbusPlc
from hal.modbus.turntable import decode_status
from hal.readers.cameras import CameraSystemDriver
from hal.sweep import ManifestEntry, SessionResult, photo_session, plan
from simulators.cameras import SilentCamera, SimCameraSystem
from simulators.plc import SimPlc
from simulators.turntable import (
    DriveFault,
    DriveModel,
    HomeNotFound,
    SimTurntable,
    SlowReplies,
    Stall,
)

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

SHOTS = {"exterior": 1, "interior": 9, "underbody": 9, "tyres": 9}
"""36 exterior images, 4 of each other camera: 48 a session."""


class Studio:
    """PLC, turntable and camera system simulators with their drivers; the zone interlock
    is the PLC's, the camera system's encoder input the simulated table's angle."""

    def __init__(
        self, sim_plc: SimPlc, plc: ModbusPlc, sim: SimTurntable, table: object,
        sim_cams: SimCameraSystem, cameras: CameraSystemDriver,
    ) -> None:  # fmt: skip
        self.sim_plc, self.plc, self.sim, self.table = sim_plc, plc, sim, table
        self.sim_cams, self.cameras = sim_cams, cameras

    async def session(self, **options: object) -> SessionResult:
        settings: dict[str, object] = {
            "session": "VF1RFB00X66123456",
            "shots": plan(36, 10.0, SHOTS),
            "speed_deg_s": 5.0,
            "tolerance_deg": 4.9,
            "report_timeout_s": 1.0,
            "home_first": True,
            **options,
        }
        return await photo_session(self.table, self.cameras, **settings)  # type: ignore[arg-type]


STUDIO_LINK = FAST_LINK.model_copy(update={"request_timeout_s": 0.5, "stale_after_s": 2.0})
"""The studio's links: patient, so that a loaded machine is not taken for a dead link
(these tests are about the rotation and the cameras; the link faults have their own)."""


@pytest.fixture
async def studio() -> AsyncIterator[Studio]:
    async with plc_rig(plc_config(link=STUDIO_LINK)) as (sim_plc, plc):

        def zone_clear() -> bool:
            return plc.value("zone_clear") == 1

        config = turntable_config(link=STUDIO_LINK)
        async with turntable_rig(config, zone_clear, time_scale=SCALE, start_deg=340.0) as (
            sim,
            table,
        ):
            section = camera_config()
            sim_cams = SimCameraSystem(
                section, listen=("127.0.0.1", 0), encoder=lambda: sim.encoder_deg
            )
            await sim_cams.start()
            cameras = CameraSystemDriver(
                "cameras", section.model_copy(update=sim_cams.endpoint_update())
            )
            try:
                await cameras.start()
                await cameras.link.wait_up(2.0)
                yield Studio(sim_plc, plc, sim, table, sim_cams, cameras)
            finally:
                await cameras.stop()
                await sim_cams.stop()


def in_set(result: SessionResult) -> list[ManifestEntry]:
    return [entry for entry in result.manifest if entry.problem is None]


async def test_one_rotation_takes_the_whole_manifest_with_real_checksums(studio: Studio) -> None:
    shots: list[int] = []

    async def on_shot(number: int) -> None:
        shots.append(number)

    result = await studio.session(on_shot=on_shot)
    assert result.fault is None and result.complete, [e for e in result.manifest if e.problem]
    assert shots == list(range(36))
    assert len(result.manifest) == 48 and result.taken == 48
    assert Counter(e.camera for e in result.manifest) == {
        "exterior": 36, "interior": 4, "underbody": 4, "tyres": 4,
    }  # fmt: skip
    assert result.start_deg is not None and abs(wrap180(result.start_deg)) < 2.0  # homed
    for entry in result.manifest:
        report = entry.report
        assert report is not None and report.shot == entry.shot
        assert entry.angle_deg == pytest.approx(
            (result.start_deg + 10.0 * (entry.shot + 1)) % 360, abs=0.1
        )
        assert abs(wrap180(report.angle_deg - entry.angle_deg)) <= 4.9
        image = studio.sim_cams.images[report.name]
        assert 100 < len(image) < 1000 and report.sha256 == hashlib.sha256(image).hexdigest()
        assert report.time.endswith("Z")
    assert studio.sim_cams.triggers == 36  # one trigger a shot angle, never two
    assert studio.sim.frequency_hz == 0  # stopped at the end of the revolution


async def test_a_homed_table_is_not_homed_again_but_turned_back_the_short_way(
    studio: Studio,
) -> None:
    """The first session homes the table; the next ones do not (a broken home switch
    would fault them): a table standing off its home angle (the rotation's run-out,
    or moved by hand) turns back to it the short way before the rotation."""
    first = await studio.session()
    assert first.complete and first.fault is None
    studio.sim.inject(HomeNotFound())
    second = await studio.session()
    assert second.complete and second.fault is None, "homed again: the home switch is broken"
    assert second.start_deg is not None and abs(wrap180(second.start_deg)) <= 4.9
    await studio.table.rotate_by(90.0)  # type: ignore[attr-defined]
    third = await studio.session()
    assert third.complete and third.fault is None
    assert third.start_deg is not None and abs(wrap180(third.start_deg)) <= 4.9


async def test_a_stall_stops_the_table_and_leaves_the_session_incomplete(studio: Studio) -> None:
    studio.sim.inject(Stall(at_deg=95.0))
    result = await studio.session()
    assert not result.complete
    assert result.fault is not None and result.fault.kind == "stall"
    assert result.fault.angle_deg == pytest.approx(95.0, abs=0.2)
    exterior = [e.shot for e in in_set(result) if e.camera == "exterior"]
    assert exterior == list(range(9))  # 10 .. 90 degrees
    assert {e.problem for e in result.manifest if e.shot >= 9} == {"not_triggered"}
    assert studio.sim.frequency_hz == 0  # stopped before the session returned


async def test_a_drive_fault_stops_the_session_and_can_be_reset(studio: Studio) -> None:
    async def trip_mid_rotation() -> None:
        await poll_until(lambda: 45.0 < studio.sim.angle_deg < 180.0, timeout=5.0)
        studio.sim.inject(DriveFault(31))

    tripping = asyncio.create_task(trip_mid_rotation(), name="trip")
    result = await studio.session()
    await tripping
    assert result.fault is not None and result.fault.kind == "drive_fault"
    assert "fault code 31" in result.fault.message
    assert 4 <= result.taken < 48
    await studio.table.reset_fault()  # type: ignore[attr-defined]
    assert (await studio.table.status()).fault_code == 0  # type: ignore[attr-defined]


async def test_rotation_is_refused_while_the_zone_is_not_clear(studio: Studio) -> None:
    studio.sim_plc.set_input("zone_clear", 0)
    await studio.plc.wait_for("zone_clear", 0, timeout=1.0)
    control = turntable_config().registers.control_word
    result = await studio.session()
    assert result.fault is not None and result.fault.kind == "zone_not_clear"
    assert "refused" in result.fault.message
    assert result.taken == 0 and not result.complete
    assert studio.sim.requests["write", "holding_register", control] == 0  # never commanded
    assert studio.sim_cams.triggers == 0


async def test_late_polls_move_no_shot_and_a_silent_camera_is_named(studio: Studio) -> None:
    """The drive answers 70 ms late from about 120 to 240 degrees (the table turns 14
    degrees between two polls): the camera system fires at its own encoder crossings,
    so every image is still at its angle; a camera that never reports is `no_report`,
    not a device fault (the caller retries the rotation)."""
    studio.sim_cams.inject(SilentCamera("tyres", count=2))  # shots 0 and 9, before the slow part

    async def slow_down() -> None:
        await poll_until(lambda: 120.0 < studio.sim.angle_deg < 200.0, timeout=10.0)
        studio.sim.inject(SlowReplies(0.07))
        await poll_until(lambda: studio.sim.angle_deg > 240.0, timeout=10.0)
        studio.sim.clear_faults()

    slowing = asyncio.create_task(slow_down(), name="slow")
    result = await studio.session(speed_deg_s=10.0)  # 200 degrees/s on the wall clock
    await slowing
    assert result.fault is None and not result.complete
    problems = {(e.shot, e.camera): e.problem for e in result.manifest if e.problem}
    assert problems == {(0, "tyres"): "no_report", (9, "tyres"): "no_report"}
    for entry in in_set(result):
        assert entry.report is not None
        assert abs(wrap180(entry.report.angle_deg - entry.angle_deg)) <= 0.1  # at the crossing
    assert studio.sim_cams.triggers == 36


async def test_a_shot_armed_after_the_table_passed_its_angle_is_refused(studio: Studio) -> None:
    await studio.table.home()  # type: ignore[attr-defined]
    await studio.cameras.begin("late")
    await studio.table.rotate_by(45.0)  # type: ignore[attr-defined]
    refused = await studio.cameras.arm([(0, ["exterior"], 20.0), (1, ["exterior"], 90.0)])
    assert refused == {0}  # the table is at 45 degrees: 20 has been passed, 90 not yet
    assert studio.sim_cams.triggers == 0


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
