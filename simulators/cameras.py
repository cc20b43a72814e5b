"""A simulated camera system of the photo studio, on TCP or a pty (the commands of
`hal.readers.cameras`: `VER`, `SES,<session>`, `TRG,<shot>,<cameras>,<angle>`).

Position compare, as a Twinner-like studio does it: the camera system counts the table's
encoder itself (`encoder`: wired to the turntable simulator's continuous angle). `SES`
latches the encoder (and drops the shots still armed); each `TRG` arms a shot at the
first crossing of its angle ahead of the latch in the forward direction (a full turn
ahead when it is the latch's own angle), or is refused (`ER,TRG,03`) when the table has
already passed it. While shots are armed the system scans its encoder every `SCAN_S`; a
shot crossed between two scans fires at the crossing: its images carry the armed angle
(the encoder count at the crossing) and the time interpolated between the two scans, so
a late scan delays a report, never moves a shot.

Each camera of a shot takes a small grey-level PGM (16 x 12 pixels, about 200 bytes)
made in memory from the session, shot, camera and angle, kept in `images` by name, and
reported with its SHA-256, angle and time.

Faults: `SilentCamera(camera, count)`: that camera's next `count` images are never
taken nor reported (a camera that does not answer); `Unplug(seconds)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hal.config import CameraSystemConfig
from hal.readers.framing import LineFramer, encode_line
from hal.readers.transport import ByteStream
from simulators.reader_port import SimReader, Unplug, serve_until_cancelled

__all__ = ["SilentCamera", "SimCameraSystem", "Unplug", "run_standalone"]

IDENTITY = "studio camera system simulator 1.0"
WIDTH, HEIGHT = 16, 12
SCAN_S = 0.002
"""Period of the encoder scan while shots are armed (wall clock)."""
COUNT_DEG = 0.1
"""One encoder count."""


@dataclass(frozen=True)
class SilentCamera:
    """`camera` takes and reports none of its next `count` images."""

    camera: str
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"SilentCamera.count must be >= 1 (got {self.count})")


CameraFault = SilentCamera | Unplug


def image(session: str, shot: int, camera: str, angle_deg: float) -> bytes:
    """A small PGM image standing for the shot."""
    seed = hashlib.sha256(f"{session}:{shot}:{camera}:{angle_deg:.1f}".encode()).digest()
    pixels = (seed * (WIDTH * HEIGHT // len(seed) + 1))[: WIDTH * HEIGHT]
    return f"P5\n{WIDTH} {HEIGHT}\n255\n".encode("ascii") + pixels


@dataclass(frozen=True)
class _Armed:
    shot: int
    cameras: tuple[str, ...]
    at: float
    """Encoder position (continuous degrees) the shot fires at."""


@dataclass
class _Session:
    """A session: its name, encoder latch and armed shots."""

    name: str
    latch: float
    scanned: tuple[float, float]
    """Last scan: (encoder position, wall time)."""
    armed: list[_Armed] = field(default_factory=list)


@dataclass
class _Connection:
    """One connection's session (a new `SES` replaces it) and the scan's wake-up."""

    session: _Session | None = None
    armed: asyncio.Event = field(default_factory=asyncio.Event)


class SimCameraSystem(SimReader):
    """The camera system (see the module docstring)."""

    def __init__(
        self,
        config: CameraSystemConfig,
        *,
        pty: bool | str = False,
        listen: tuple[str, int] | None = None,
        name: str = "cameras",
        encoder: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.config = config
        super().__init__(name, pty=pty, listen=listen)
        self.encoder = encoder
        """The table's encoder, continuous degrees (wired to the system's encoder input)."""
        self.images: dict[str, bytes] = {}
        """Every image taken, by name."""
        self.triggers = 0
        """Shots fired (at their crossing)."""
        self._silent: dict[str, int] = {}

    def inject(self, fault: CameraFault) -> None:
        match fault:
            case SilentCamera(camera=camera, count=count):
                self._silent[camera] = self._silent.get(camera, 0) + count
            case Unplug(seconds=seconds):
                self.port.unplug(seconds)

    async def _serve(self, stream: ByteStream) -> None:
        framer = LineFramer("crlf", self.config.max_line_bytes)
        connection = _Connection()
        scanner = asyncio.create_task(
            self._scan(connection, stream), name=f"sim:{self.port.name}:scan"
        )
        try:
            while True:
                for command in framer.feed(await stream.read_chunk()):
                    for text in self._answer(command.text, connection):
                        await stream.write(encode_line(text, "crlf"))
        finally:
            scanner.cancel()
            await asyncio.gather(scanner, return_exceptions=True)

    def _answer(self, command: str, connection: _Connection) -> list[str]:
        verb, _, rest = command.partition(",")
        if verb == "VER":
            return [f"OK,VER,{IDENTITY}"]
        if verb == "SES" and rest:
            latch = self.encoder()
            connection.session = _Session(rest, latch, (latch, time.time()))
            return ["OK,SES"]
        if verb == "TRG":
            reply = self._arm(rest, connection.session)
            if connection.session is not None and connection.session.armed:
                connection.armed.set()
            return [reply]
        return [f"ER,{verb or '?'},00"]

    def _arm(self, arguments: str, session: _Session | None) -> str:
        shot, _, rest = arguments.partition(",")
        names, _, angle = rest.partition(",")
        cameras = tuple(names.split("+"))
        if session is None or not shot.isdigit() or not angle.isdigit():
            return "ER,TRG,01"
        if not all(camera in self.config.cameras for camera in cameras):
            return "ER,TRG,02"
        ahead = (int(angle) * COUNT_DEG - session.latch) % 360.0
        at = session.latch + (ahead if ahead >= COUNT_DEG / 2 else 360.0)
        if self.encoder() >= at:
            return "ER,TRG,03"  # the table has passed it
        session.armed.append(_Armed(int(shot), cameras, at))
        session.armed.sort(key=lambda armed: armed.at)
        return "OK,TRG"

    async def _scan(self, connection: _Connection, stream: ByteStream) -> None:
        """Fire the armed shots as the encoder crosses them (see the module docstring)."""
        while True:
            session = connection.session
            if session is None or not session.armed:
                connection.armed.clear()
                await connection.armed.wait()
                continue
            await asyncio.sleep(SCAN_S)  # the scan period of the encoder input
            position, now = self.encoder(), time.time()
            before, then = session.scanned
            session.scanned = (position, now)
            while (
                connection.session is session and session.armed and session.armed[0].at <= position
            ):
                armed = session.armed.pop(0)
                share = (armed.at - before) / (position - before) if position > before else 1.0
                for line in self._fire(session.name, armed, then + share * (now - then)):
                    await stream.write(encode_line(line, "crlf"))

    def _fire(self, session: str, armed: _Armed, taken: float) -> list[str]:
        self.triggers += 1
        angle = round(armed.at % 360.0 / COUNT_DEG) % round(360 / COUNT_DEG)
        reports = []
        for camera in armed.cameras:
            if self._silent.get(camera, 0):
                self._silent[camera] -= 1
                continue
            data = image(session, armed.shot, camera, angle * COUNT_DEG)
            name = f"{session}_{armed.shot:03d}_{camera}.pgm"
            self.images[name] = data
            digest = hashlib.sha256(data).hexdigest()
            reports.append(
                f"SHOT,{armed.shot},{camera},{angle},{name},{digest},{round(taken * 1000)}"
            )
        return reports


async def run_standalone(
    config: CameraSystemConfig, listen: tuple[str, int] | None, pty: str | None
) -> None:
    """`station sim cameras`: serve on `listen` or on a pty linked at `pty`, until cancelled."""
    await serve_until_cancelled(SimCameraSystem(config, pty=pty or False, listen=listen), "cameras")
