"""Keyence SR style fixed-mount barcode reader, over a serial port or TCP.

Protocol (docs/plant.md, Keyence SR-750/1000 manuals): ASCII commands, framed like
the reader's output (CR, CR LF or STX ... ETX, from the config). The trigger
command (`LON`) starts reading; the reader sends the data as one frame, with
several codes of one trigger separated by commas (multi-code reading);
`LOFF` ends reading, and if nothing was read the reader then sends its
no-read string (`ERROR`). With command responses enabled it acknowledges
each command with `OK,<cmd>` and refuses one with `ER,<cmd>,<nn>`.

Handshake: when the port opens the driver sends `RVER` (read the reader's
firmware version, an operation command of the SR series that every model
answers whatever its settings, with `OK,RVER,<version>`); the link is up only
once that answer came (`hal.readers.transport`). It changes nothing in the
reader, unlike `LON` or `RESET`, and `OK,RVER,` is no reply that an HTTP
server, a terminal server or another device gives by chance.

One `read()`:
1. frames left from an earlier trigger are dropped;
2. `trigger_on` is sent; frames are taken until the first data frame or
   the read timeout; data frames already received with it are kept too;
   echoes are skipped; `ER,<trigger_on>,<nn>` raises ReaderError;
3. `trigger_off` is sent. If no data frame came, the reader's answer to it
   (its no-read string, or a code read at the very last moment) is awaited
   for `link.request_timeout_s`;
4. the codes are the comma-separated fields of those frames without the
   no-read string, de-duplicated in order: none is `CodeRead(())`, one is the
   read, several different ones raise AmbiguousRead (never a guess).

A reader that sent not a single byte between `trigger_on` and the end of
step 3 is not a no-read but a silent device: RequestTimeout. A late
`ER,<trigger_off>,<nn>` (some readers refuse LOFF after a successful read)
belongs to an earlier trigger and is only counted.

The driver returns raw codes; VIN rules are the station's identify step.
"""

from __future__ import annotations

import asyncio

from hal.config import KeyenceBarcodeConfig
from hal.errors import AmbiguousRead, ReaderError, RequestTimeout
from hal.interfaces import CodeRead
from hal.readers.framing import (
    VERSION_COMMAND,
    VERSION_REPLY,
    ErrorReply,
    KeyenceReply,
    Line,
    LineFramer,
    encode_line,
)
from hal.readers.transport import Handshake, ReaderDevice, ReaderPort


def version_of(frame: KeyenceReply) -> str | None:
    """The firmware version if `frame` answers VERSION_COMMAND, else None."""
    if isinstance(frame, Line) and frame.text.startswith(VERSION_REPLY):
        return frame.text.removeprefix(VERSION_REPLY)
    return None


class KeyenceReader(ReaderDevice[KeyenceReply]):
    """A `hal.interfaces.CodeReader` for a Keyence SR style reader."""

    def __init__(self, name: str, config: KeyenceBarcodeConfig) -> None:
        self.config = config
        self.framer = LineFramer(config.framing, config.max_line_bytes)
        request = encode_line(VERSION_COMMAND, config.framing)
        handshake = Handshake(VERSION_COMMAND, request, version_of, "a Keyence SR reader")
        super().__init__(name, ReaderPort(name, config, self.framer, handshake))

    async def read(self, timeout: float | None = None) -> CodeRead:
        read_timeout = self.config.read_timeout_s if timeout is None else timeout
        if read_timeout <= 0:
            raise ValueError(f"{self.name}: read timeout must be > 0 s (got {read_timeout})")
        async with self._lock:
            self.port.check_up()
            self.port.discard_frames()
            received_before = self.port.received
            loop = asyncio.get_running_loop()
            await self._command(self.config.trigger_on)
            lines = await self._data_lines(loop.time() + read_timeout)
            await self._command(self.config.trigger_off)
            if not lines:
                lines = await self._data_lines(loop.time() + self.config.link.request_timeout_s)
            if not lines and self.port.received == received_before:
                raise RequestTimeout(
                    self.name,
                    f"no byte in reply to {self.config.trigger_on}/{self.config.trigger_off} "
                    f"within {read_timeout + self.config.link.request_timeout_s:.2f} s",
                )
        return CodeRead(self._codes(lines))

    async def _command(self, command: str) -> None:
        data = encode_line(command, self.config.framing)
        await self.port.send(data, self.config.link.request_timeout_s)

    async def _data_lines(self, deadline: float) -> list[str]:
        """Texts of the first data frame before `deadline`, with any received along with it."""
        while (frame := await self.port.next_frame(deadline)) is not None:
            if isinstance(frame, Line):
                more = [f.text for f in self.port.take_frames() if isinstance(f, Line)]
                return [frame.text, *more]
            if isinstance(frame, ErrorReply) and frame.command == self.config.trigger_on:
                raise ReaderError(
                    self.name, f"reader refused {frame.command}: error {frame.code:02d}"
                )
            # else an echo, or the error reply to an earlier trigger_off: the framer counted it
        return []

    def _codes(self, lines: list[str]) -> tuple[str, ...]:
        found: list[str] = []
        for line in lines:
            for field in line.split(","):
                code = field.strip()
                if code and code != self.config.noread and code not in found:
                    found.append(code)
        if len(found) > 1:
            raise AmbiguousRead(self.name, found)
        return tuple(found)
