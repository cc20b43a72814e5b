"""A Keyence SR style barcode reader on a pty or TCP (`hal.readers.keyence` is its driver).

Behaviour: `trigger_on` (LON) starts a read: if a label is in front of the
reader (`present(code)`) its code is sent at once as one data frame;
otherwise nothing, and `trigger_off` (LOFF) then sends the no-read string.
With echo on, every command is acknowledged `OK,<cmd>` first. `RVER` (the
driver's handshake) is answered `OK,RVER,<VERSION>`, echo or not, as the
reader does. An unknown command is answered `ER,<cmd>,00`. Framing (CR, CR LF, STX ETX) and the
no-read string come from the reader's config section, like the real
reader's settings.

Faults (`inject`, the only door tests use), each for the next trigger(s)
unless said otherwise:
- NoRead(count): the next `count` triggers read nothing, label or not.
- Garbage(data): raw bytes sent before the reply to the next command (no
  terminator in `data` means the next frame is glued to it).
- MultiCode(codes): the next trigger reads several codes, sent as one frame
  separated by commas (Keyence multi-code output).
- CommandError(code): the next trigger is refused, `ER,<trigger_on>,<code>`.
- SplitFrames(pieces, gap_s): from now on every frame is written in
  `pieces` parts, `gap_s` apart (pieces=1 turns it off).
- Echo(on): command acknowledgements on or off, from now on.
- Unplug(seconds): see `simulators.reader_port`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hal.config import KeyenceBarcodeConfig
from hal.readers.framing import (
    VERSION_COMMAND,
    VERSION_REPLY,
    KeyenceReply,
    LineFramer,
    encode_line,
)
from hal.readers.transport import ByteStream
from simulators.reader_port import SimReader, Unplug, serve_until_cancelled

__all__ = [
    "CommandError",
    "Echo",
    "Garbage",
    "MultiCode",
    "NoRead",
    "SimBarcode",
    "SplitFrames",
    "Unplug",
    "run_standalone",
]

VERSION = "SR-1000 simulator 1.00"
"""What the simulator answers to `RVER`."""


@dataclass(frozen=True)
class NoRead:
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"NoRead.count must be >= 1 (got {self.count})")


@dataclass(frozen=True)
class Garbage:
    data: bytes


@dataclass(frozen=True)
class MultiCode:
    codes: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.codes) < 2:
            raise ValueError(f"MultiCode needs at least two codes (got {self.codes!r})")


@dataclass(frozen=True)
class CommandError:
    code: int

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 99:
            raise ValueError(f"CommandError.code must be 0..99 (got {self.code})")


@dataclass(frozen=True)
class SplitFrames:
    pieces: int = 3
    gap_s: float = 0.005

    def __post_init__(self) -> None:
        if self.pieces < 1 or self.gap_s < 0:
            raise ValueError(f"SplitFrames needs pieces >= 1 and gap_s >= 0 (got {self})")


@dataclass(frozen=True)
class Echo:
    on: bool = True


BarcodeFault = NoRead | Garbage | MultiCode | CommandError | SplitFrames | Echo | Unplug


class SimBarcode(SimReader):
    """A simulated Keyence SR style reader (see the module docstring)."""

    def __init__(
        self,
        config: KeyenceBarcodeConfig,
        *,
        pty: bool | str = False,
        listen: tuple[str, int] | None = None,
        name: str = "barcode",
    ) -> None:
        self.config = config
        super().__init__(name, pty=pty, listen=listen)
        self.label: str | None = None
        self.echo = False
        self.triggers = 0
        """Triggers answered so far (refused ones not counted)."""
        self._reading = False
        self._read_done = False
        self._noreads = 0
        self._garbage: list[bytes] = []
        self._multi: tuple[str, ...] | None = None
        self._refuse: int | None = None
        self._split = SplitFrames(pieces=1, gap_s=0.0)

    def present(self, code: str | None) -> None:
        """Put a label in front of the reader (None: take it away)."""
        if code is not None:
            self._check_code(code)
        self.label = code

    def _check_code(self, code: str) -> None:
        encode_line(code, self.config.framing)  # printable ASCII, or ValueError
        if not code or "," in code or len(code) > self.config.max_line_bytes:
            raise ValueError(
                f"a label code is 1..{self.config.max_line_bytes} characters "
                f"without a comma (got {code!r})"
            )

    def inject(self, fault: BarcodeFault) -> None:
        match fault:
            case NoRead(count=count):
                self._noreads += count
            case Garbage(data=data):
                self._garbage.append(data)
            case MultiCode(codes=codes):
                for code in codes:
                    self._check_code(code)
                self._multi = codes
            case CommandError(code=code):
                self._refuse = code
            case SplitFrames():
                self._split = fault
            case Echo(on=on):
                self.echo = on
            case Unplug(seconds=seconds):
                self.port.unplug(seconds)

    async def _serve(self, stream: ByteStream) -> None:
        framer = LineFramer(self.config.framing, self.config.max_line_bytes)
        while True:
            for command in framer.feed(await stream.read_chunk()):
                garbage, frames = self._answer(command)
                if garbage:
                    await stream.write(garbage)
                for text in frames:
                    await self._write_frame(stream, encode_line(text, self.config.framing))

    def _answer(self, command: KeyenceReply) -> tuple[bytes, list[str]]:
        """Raw bytes to send first, then the texts of the reply frames."""
        garbage = b"".join(self._garbage)
        self._garbage.clear()
        if command.text == self.config.trigger_on:
            return garbage, self._trigger_on()
        if command.text == self.config.trigger_off:
            return garbage, self._trigger_off()
        if command.text == VERSION_COMMAND:
            return garbage, [VERSION_REPLY + VERSION]
        return garbage, [f"ER,{command.text},00"]

    def _trigger_on(self) -> list[str]:
        on = self.config.trigger_on
        if self._refuse is not None:
            code, self._refuse = self._refuse, None
            return [f"ER,{on},{code:02d}"]
        self.triggers += 1
        frames = [f"OK,{on}"] if self.echo else []
        self._reading, self._read_done = True, False
        if self._noreads:
            self._noreads -= 1
        elif self._multi is not None:
            frames.append(",".join(self._multi))
            self._multi, self._read_done = None, True
        elif self.label is not None:
            frames.append(self.label)
            self._read_done = True
        return frames

    def _trigger_off(self) -> list[str]:
        frames = [f"OK,{self.config.trigger_off}"] if self.echo else []
        if self._reading and not self._read_done:
            frames.append(self.config.noread)
        self._reading = False
        return frames

    async def _write_frame(self, stream: ByteStream, frame: bytes) -> None:
        pieces = min(self._split.pieces, len(frame))
        size = -(-len(frame) // pieces)
        for start in range(0, len(frame), size):
            if start:
                await asyncio.sleep(self._split.gap_s)  # the reader's own pacing
            await stream.write(frame[start : start + size])


async def run_standalone(
    config: KeyenceBarcodeConfig, listen: tuple[str, int] | None, pty: str | None
) -> None:
    """`station sim barcode`: serve on `listen` or on a pty linked at `pty`, until cancelled."""
    await serve_until_cancelled(SimBarcode(config, pty=pty or False, listen=listen), "barcode")
