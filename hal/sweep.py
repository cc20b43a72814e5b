"""The photo session: one continuous rotation, the cameras fired at angle crossings.

Generic over the interfaces (`Turntable`, `CameraSystem`), as the studio's Twinner-like
systems work (position compare): home (if asked: a table homed already turns back to its
home angle the short way), open a session on the camera
system, arm every shot of the rotation at its angle (shot n at the start angle +
(n + 1) x step_deg), then turn the table once round at a steady speed
(`Turntable.revolve`, the drive's speed mode). The camera system fires each shot
itself as its own encoder input crosses the angle, and reports each image (name,
SHA-256, angle, time); the controller only watches the rotation over Modbus (stall,
drive fault, zone), so its loop delays never move a shot. The reports are gathered
after the rotation.

The manifest has one entry per planned image (shot, camera), in order, each `ok` or
with its problem:
- `not_triggered`: the camera system refused to arm the shot (the table had passed
  its angle), or the rotation stopped before the table reached it;
- `no_report`: the table passed the angle, but the camera system never reported the
  image (a silent camera);
- `off_angle`: the image was taken farther than `tolerance_deg` from its angle.
The session is complete when every entry is ok: a complete 360-degree set when the
shots cover the revolution.

A device fault never escapes as an exception: the turntable driver stops the
rotation, the reports of the shots fired are still gathered, and the session is
returned incomplete with the fault. Faults of the camera system (a refused trigger, a
lost link) are reported as a `TurntableFault` too, with kind `camera` or `link_down`
and the original error as its cause, so that the caller has one kind of fault to
journal. Cancellation is not a fault: it propagates (after the same stop).

Boundary: journaling the manifest, retrying and deciding Aborted/Held are the caller's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hal.errors import DeviceError, LinkDown, RequestTimeout, TurntableFault
from hal.interfaces import CameraSystem, ShotReport, Turntable, wrap180


@dataclass(frozen=True)
class PlannedShot:
    """A shot angle of the session: its number, its travel from the start angle, and
    the cameras fired there."""

    number: int
    travel_deg: float
    cameras: tuple[str, ...]


def plan(steps: int, step_deg: float, shots: Mapping[Any, int]) -> tuple[PlannedShot, ...]:
    """The shots of a session: at angle n, the cameras whose `every` divides n."""
    if steps < 1 or step_deg <= 0:
        raise ValueError(f"a session needs steps >= 1 and step_deg > 0 (got {steps}, {step_deg})")
    planned = (
        PlannedShot(n, (n + 1) * step_deg, tuple(c for c, every in shots.items() if n % every == 0))
        for n in range(steps)
    )
    return tuple(shot for shot in planned if shot.cameras)


@dataclass(frozen=True)
class ManifestEntry:
    """One planned image and what became of it."""

    shot: int
    camera: str
    angle_deg: float
    """The shot's angle (the table's, 0..360)."""
    report: ShotReport | None
    problem: str | None
    """None (ok), not_triggered, no_report or off_angle."""


@dataclass(frozen=True)
class SessionResult:
    """What a session did: the manifest, and the fault that stopped it."""

    manifest: tuple[ManifestEntry, ...]
    fault: TurntableFault | None
    start_deg: float | None = None
    """The angle the shots count from (after homing); None if the session failed before."""

    @property
    def taken(self) -> int:
        """Images in the set (ok)."""
        return sum(entry.problem is None for entry in self.manifest)

    @property
    def complete(self) -> bool:
        return self.fault is None and self.taken == len(self.manifest)


async def photo_session(
    turntable: Turntable,
    cameras: CameraSystem,
    *,
    session: str,
    shots: tuple[PlannedShot, ...],
    speed_deg_s: float,
    tolerance_deg: float,
    report_timeout_s: float,
    home_first: bool,
    on_shot: Callable[[int], Awaitable[None]] | None = None,
) -> SessionResult:
    """Run one photo session; never raises a device error (see the module docstring)."""
    if not shots:
        raise ValueError("a session needs at least one shot")
    pending = list(shots)
    refused: set[int] = set()
    reached: set[int] = set()
    start: float | None = None
    fault: TurntableFault | None = None

    async def on_travel(travelled: float) -> None:
        while pending and pending[0].travel_deg <= travelled:
            shot = pending.pop(0)
            reached.add(shot.number)
            if on_shot is not None:
                await on_shot(shot.number)

    try:
        start = await _start_angle(turntable, home_first, tolerance_deg)
        await cameras.begin(session)
        refused = await cameras.arm([(s.number, s.cameras, start + s.travel_deg) for s in shots])
        await turntable.revolve(shots[-1].travel_deg, speed_deg_s, on_travel)
    except DeviceError as exc:
        fault = _as_fault(exc, cameras)
    fired = reached - refused
    reports: list[ShotReport] = []
    if fired:
        expected = sum(len(shot.cameras) for shot in shots if shot.number in fired)
        try:
            reports = await cameras.reports(expected, report_timeout_s)
        except DeviceError as exc:
            fault = fault or _as_fault(exc, cameras)
    manifest = _manifest(shots, start, fired, reports, tolerance_deg)
    return SessionResult(manifest, fault, start)


async def _start_angle(turntable: Turntable, home_first: bool, tolerance_deg: float) -> float:
    """The table's angle to start from. Asked to home first: a table never homed is
    homed; one homed but standing off its home angle (a rotation's run-out past 360
    degrees, or one that stopped short) turns back to it the short way, as the lane
    needs it aligned; one at its home angle already starts there."""
    status = await turntable.status()
    if home_first and not status.homed:
        await turntable.home()
        status = await turntable.status()
    elif home_first and abs(wrap180(status.angle_deg)) > tolerance_deg:
        await turntable.rotate_by(-wrap180(status.angle_deg))
        status = await turntable.status()
    return status.angle_deg


def _manifest(
    shots: tuple[PlannedShot, ...],
    start: float | None,
    fired: set[int],
    reports: list[ShotReport],
    tolerance_deg: float,
) -> tuple[ManifestEntry, ...]:
    by_image = {(r.shot, r.camera): r for r in reports}
    entries = []
    for shot in shots:
        angle = round(((start or 0.0) + shot.travel_deg) % 360.0, 1) % 360.0
        for camera in shot.cameras:
            report = by_image.get((shot.number, camera))
            problem: str | None = None
            if report is None:
                problem = "no_report" if shot.number in fired else "not_triggered"
            elif abs(wrap180(report.angle_deg - angle)) > tolerance_deg:
                problem = "off_angle"
            entries.append(ManifestEntry(shot.number, camera, angle, report, problem))
    return tuple(entries)


def _as_fault(exc: DeviceError, cameras: CameraSystem) -> TurntableFault:
    if isinstance(exc, TurntableFault):
        return exc
    if isinstance(exc, LinkDown | RequestTimeout):
        kind = "link_down"
    elif exc.device == cameras.name:
        kind = "camera"
    else:
        kind = "drive_fault"
    fault = TurntableFault(exc.device, kind, exc.message)
    fault.__cause__ = exc
    return fault
