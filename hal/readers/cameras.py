"""The photo studio's camera system, over TCP (or a serial line): text commands, CR LF.

Protocol (the camera system's command interface, as the simulator
`simulators.cameras` serves it; docs/architecture.md section 9a):

- `VER` -> `OK,VER,<identity>`: the handshake when the port opens.
- `SES,<session>` -> `OK,SES`: a new session; its images are named after it (the VIN).
  `SES` also latches the table's encoder (the camera system's own encoder input).
- `TRG,<shot>,<camera>[+<camera>...],<angle in 0.1 degree>` -> `OK,TRG`: arms the
  shot (position compare): the camera system fires the cameras itself when its
  encoder crosses the angle, the first crossing ahead of the latch going forward (a
  full turn ahead for the latch's own angle). `ER,TRG,03`: refused, the table has
  already passed the angle; `ER,TRG,01`/`02`: malformed, unknown camera.
- Each camera's image is then reported by one line
  `SHOT,<shot>,<camera>,<angle in 0.1 degree>,<name>,<sha256 hex>,<unix time in ms>`
  (the angle and time of the encoder crossing).

A whole rotation's shots are armed, pipelined, before the table starts: the
controller's loop delay never moves a shot, it only watches the rotation. The reports
are taken as they come (a malformed one or one naming a camera not installed is
dropped and counted, never taken); `reports()` waits for the missing ones.
Everything a report carries is bounded and checked before it reaches the station: a
name of at most 64 characters `[A-Za-z0-9._-]`, a 64-digit hex checksum, an angle
below 360 degrees.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from hal.config import CameraSystemConfig
from hal.errors import ReaderError, RequestTimeout
from hal.interfaces import ShotReport
from hal.readers.framing import (
    Echo,
    ErrorReply,
    Framing,
    KeyenceReply,
    Line,
    LineFramer,
    encode_line,
)
from hal.readers.transport import Handshake, ReaderDevice, ReaderPort

VERSION_COMMAND = "VER"
VERSION_REPLY = f"OK,{VERSION_COMMAND},"
FRAMING: Framing = "crlf"

_REPORT = re.compile(
    r"SHOT,(?P<shot>\d{1,4}),(?P<camera>[a-z]{1,16}),(?P<angle>\d{1,4}),"
    r"(?P<name>[A-Za-z0-9._-]{1,64}),(?P<sha256>[0-9a-f]{64}),(?P<ms>\d{1,15})"
)


def identity_of(frame: KeyenceReply) -> str | None:
    """The camera system's identity if `frame` answers VERSION_COMMAND, else None."""
    if isinstance(frame, Line) and frame.text.startswith(VERSION_REPLY):
        return frame.text.removeprefix(VERSION_REPLY)
    return None


def parse_report(text: str, cameras: Sequence[str]) -> ShotReport | None:
    """A report line, or None when it is not one (or names a camera not installed)."""
    match = _REPORT.fullmatch(text)
    if match is None or match["camera"] not in cameras or int(match["angle"]) >= 3600:
        return None
    taken = datetime.fromtimestamp(int(match["ms"]) / 1000, UTC)
    return ShotReport(
        shot=int(match["shot"]),
        camera=match["camera"],
        angle_deg=int(match["angle"]) / 10,
        name=match["name"],
        sha256=match["sha256"],
        time=taken.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


class CameraSystemDriver(ReaderDevice[KeyenceReply]):
    """A `hal.interfaces.CameraSystem` over the camera system's text commands."""

    def __init__(self, name: str, config: CameraSystemConfig) -> None:
        self.config = config
        request = encode_line(VERSION_COMMAND, FRAMING)
        handshake = Handshake(VERSION_COMMAND, request, identity_of, "a studio camera system")
        framer = LineFramer(FRAMING, config.max_line_bytes)
        super().__init__(name, ReaderPort(name, config, framer, handshake))
        self._reports: list[ShotReport] = []
        self.dropped = 0
        """Lines of a session that were no valid report (counted, never taken)."""

    async def begin(self, session: str) -> None:
        async with self._lock:
            self.port.check_up()
            self.port.discard_frames()
            self._reports = []
            await self._send(f"SES,{session}")
            deadline = asyncio.get_running_loop().time() + self.config.link.request_timeout_s
            while (frame := await self.port.next_frame(deadline)) is not None:
                if isinstance(frame, Echo) and frame.command == "SES":
                    return
                self._refused(frame, "SES")
            raise RequestTimeout(self.name, "no answer to SES")

    async def arm(self, shots: Sequence[tuple[int, Sequence[str], float]]) -> set[int]:
        async with self._lock:
            self.port.check_up()
            for shot, cameras, angle_deg in shots:
                tenths = round(angle_deg % 360.0 * 10) % 3600
                await self._send(f"TRG,{shot},{'+'.join(cameras)},{tenths}")
            passed: set[int] = set()
            answered = 0
            loop = asyncio.get_running_loop()
            while answered < len(shots):
                frame = await self.port.next_frame(loop.time() + self.config.link.request_timeout_s)
                if frame is None:
                    raise RequestTimeout(self.name, f"{len(shots) - answered} TRG unanswered")
                if isinstance(frame, Echo) and frame.command == "TRG":
                    answered += 1
                elif isinstance(frame, ErrorReply) and frame.command == "TRG" and frame.code == 3:
                    passed.add(shots[answered][0])  # the replies come in the order sent
                    answered += 1
                else:
                    self._take([frame])
            return passed

    async def reports(self, expected: int, timeout: float) -> list[ShotReport]:
        async with self._lock:
            self._take(self.port.take_frames())
            deadline = asyncio.get_running_loop().time() + timeout
            while len(self._reports) < expected:
                frame = await self.port.next_frame(deadline)
                if frame is None:
                    break
                self._take([frame])
            return list(self._reports)

    async def _send(self, command: str) -> None:
        await self.port.send(encode_line(command, FRAMING), self.config.link.request_timeout_s)

    def _take(self, frames: list[KeyenceReply]) -> None:
        for frame in frames:
            report = parse_report(frame.text, self.config.cameras)
            if isinstance(frame, Line) and report is not None:
                self._reports.append(report)
            else:
                self._refused(frame, "TRG")

    def _refused(self, frame: KeyenceReply, command: str) -> None:
        if isinstance(frame, ErrorReply) and frame.command == command:
            raise ReaderError(self.name, f"camera system refused {command}: error {frame.code:02d}")
        self.dropped += 1
