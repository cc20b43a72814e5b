"""A simulated camera system of the photo studio, on TCP or a pty (the commands of
`hal.readers.cameras`: `VER`, `SES,<session>`, `TRG,<shot>,<cameras>`).

At each trigger every camera named takes an image at once: a small grey-level PGM
(16 x 12 pixels, about 200 bytes) made in memory from the session, shot, camera and
angle, kept in `images` by name, and reported with its SHA-256, the table angle at
that instant (`encoder`: wired to the turntable simulator's angle, as the real
system reads the table's encoder) and the time.

Faults: `SilentCamera(camera, count)`: that camera's next `count` images are never
taken nor reported (a camera that does not answer); `Unplug(seconds)`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from hal.config import CameraSystemConfig
from hal.readers.framing import LineFramer, encode_line
from hal.readers.transport import ByteStream
from simulators.reader_port import SimReader, Unplug, serve_until_cancelled

__all__ = ["SilentCamera", "SimCameraSystem", "Unplug", "run_standalone"]

IDENTITY = "studio camera system simulator 1.0"
WIDTH, HEIGHT = 16, 12


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
        """The table angle, degrees (the turntable's encoder, wired to the system)."""
        self.images: dict[str, bytes] = {}
        """Every image taken, by name."""
        self.triggers = 0
        self._session: str | None = None
        self._silent: dict[str, int] = {}

    def inject(self, fault: CameraFault) -> None:
        match fault:
            case SilentCamera(camera=camera, count=count):
                self._silent[camera] = self._silent.get(camera, 0) + count
            case Unplug(seconds=seconds):
                self.port.unplug(seconds)

    async def _serve(self, stream: ByteStream) -> None:
        framer = LineFramer("crlf", self.config.max_line_bytes)
        while True:
            for command in framer.feed(await stream.read_chunk()):
                for text in self._answer(command.text):
                    await stream.write(encode_line(text, "crlf"))

    def _answer(self, command: str) -> list[str]:
        verb, _, rest = command.partition(",")
        if verb == "VER":
            return [f"OK,VER,{IDENTITY}"]
        if verb == "SES" and rest:
            self._session = rest
            return ["OK,SES"]
        if verb == "TRG":
            return self._trigger(rest)
        return [f"ER,{verb or '?'},00"]

    def _trigger(self, arguments: str) -> list[str]:
        shot, _, names = arguments.partition(",")
        cameras = names.split("+")
        if self._session is None or not shot.isdigit():
            return ["ER,TRG,01"]
        if not all(camera in self.config.cameras for camera in cameras):
            return ["ER,TRG,02"]
        self.triggers += 1
        angle = round(self.encoder() % 360.0, 1) % 360.0
        taken_ms = round(time.time() * 1000)
        reports = []
        for camera in cameras:
            if self._silent.get(camera, 0):
                self._silent[camera] -= 1
                continue
            data = image(self._session, int(shot), camera, angle)
            name = f"{self._session}_{int(shot):03d}_{camera}.pgm"
            self.images[name] = data
            digest = hashlib.sha256(data).hexdigest()
            reports.append(
                f"SHOT,{int(shot)},{camera},{round(angle * 10)},{name},{digest},{taken_ms}"
            )
        return reports


async def run_standalone(
    config: CameraSystemConfig, listen: tuple[str, int] | None, pty: str | None
) -> None:
    """`station sim cameras`: serve on `listen` or on a pty linked at `pty`, until cancelled."""
    await serve_until_cancelled(SimCameraSystem(config, pty=pty or False, listen=listen), "cameras")
