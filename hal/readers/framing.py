"""Reader framing: bytes in, frames out. Pure: no I/O, no clock, no asyncio.

Both framers take whatever chunks the transport read (a frame may be split
across any number of chunks, several frames may share one) and return the
complete frames found so far. Their buffer never holds more than one frame's
bound, whatever arrives: garbage and over-long frames are dropped and counted
in a `hal.interfaces.FramerCounters` (docs/faults.md rows 11 and 12).

`LineFramer`: the Keyence SR style text protocol.
- `cr` and `crlf` are read alike: a frame ends at CR or at LF and empty
  frames are skipped, so CR LF is one terminator and a reader switched
  between the two keeps working.
- `stx_etx`: STX opens a frame and ETX closes it; bytes outside a frame are
  garbage; an STX inside a frame drops the unfinished one (as garbage) and
  opens a new frame, so a valid frame after any noise is still found.
- A frame holds printable ASCII only (0x20..0x7E). A frame with any other
  byte is dropped whole, never cleaned: keeping the rest could turn line
  noise into a plausible code.
- A frame longer than `max_line` is counted once in `overlong_lines` as soon
  as the bound is passed; its bytes up to the next terminator are discarded
  without being stored.
- Replies are classified: `OK,<cmd>` is a command echo (tolerated, counted),
  `ER,<cmd>,<nn>` a command error (surfaced, kept in `errors`), anything
  else a data line (a code, several codes separated by commas, or the
  no-read string; the driver tells which).

`BlockFramer`: the Balluff BIS style telegrams of `hal.readers.bis`:
STX body ETX BCC, where BCC is the XOR of every body byte and of the ETX.
The byte after ETX is always the BCC, whatever its value; a BCC that
happens to equal STX also opens a new frame, so noise ending in a
half-telegram cannot swallow the STX of the valid telegram after it. A
telegram whose BCC does not match is dropped and counted as garbage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from hal.interfaces import FramerCounters

STX = 0x02
ETX = 0x03
CR = 0x0D
LF = 0x0A

Framing = Literal["cr", "crlf", "stx_etx"]

MAX_ERRORS_KEPT = 32
"""`FramerCounters.errors` keeps the most recent error texts only: bounded memory."""

_LINE_END = re.compile(rb"[\r\n]")
_STX_OR_ETX = re.compile(rb"[\x02\x03]")
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
_ECHO = re.compile(r"OK,([^,]+)")
_ERROR = re.compile(r"ER,([^,]+),(\d{1,3})")

FrameT_co = TypeVar("FrameT_co", covariant=True)


class Framer(Protocol[FrameT_co]):
    """What a reader connection needs of a framer."""

    counters: FramerCounters

    def feed(self, data: bytes) -> Sequence[FrameT_co]:
        """Frames completed by `data` (a chunk of any size)."""
        ...

    def reset(self) -> None:
        """Forget a partial frame (the connection was reopened)."""
        ...


def note_error(counters: FramerCounters, text: str) -> None:
    """Keep an error text in `counters.errors`, bounded to the last MAX_ERRORS_KEPT."""
    counters.errors.append(text)
    del counters.errors[:-MAX_ERRORS_KEPT]


class BoundedFrame:
    """The unfinished frame of a framer: at most `bound` bytes. A frame that grows
    past it is counted once in `overlong_lines`, and the rest of it is discarded
    until `restart()` (its end, or the start of another frame)."""

    def __init__(self, bound: int, counters: FramerCounters | None) -> None:
        if bound < 1:
            raise ValueError(f"a frame bound must be >= 1 byte (got {bound})")
        self.bound = bound
        self.counters = counters if counters is not None else FramerCounters()
        self._buffer = bytearray()
        self._discarding = False
        """Inside an over-long frame: bytes are dropped until its end."""

    @property
    def buffered(self) -> int:
        """Bytes held for the unfinished frame (never more than `bound`)."""
        return len(self._buffer)

    def _append(self, piece: bytes) -> None:
        if self._discarding or not piece:
            return
        if len(self._buffer) + len(piece) > self.bound:
            self.counters.overlong_lines += 1
            self._buffer.clear()
            self._discarding = True
            return
        self._buffer += piece

    def _take(self) -> bytes | None:
        """The frame held, or None if it was over-long; the buffer restarts empty."""
        frame = None if self._discarding else bytes(self._buffer)
        self._restart()
        return frame

    def _restart(self) -> None:
        self._buffer.clear()
        self._discarding = False


# --- Keyence SR style lines ------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A data line: code(s) or the no-read string."""

    text: str


@dataclass(frozen=True)
class Echo:
    """`OK,<cmd>`: the reader acknowledging a command (echo enabled)."""

    command: str

    @property
    def text(self) -> str:
        return f"OK,{self.command}"


@dataclass(frozen=True)
class ErrorReply:
    """`ER,<cmd>,<nn>`: the reader refused a command with error number nn."""

    command: str
    code: int

    @property
    def text(self) -> str:
        return f"ER,{self.command},{self.code:02d}"


KeyenceReply = Line | Echo | ErrorReply

VERSION_COMMAND = "RVER"
"""Asks a Keyence SR reader its firmware version (the drivers' handshake)."""
VERSION_REPLY = f"OK,{VERSION_COMMAND},"
"""The start of the reader's answer to VERSION_COMMAND; the version follows."""


def parse_reply(text: str) -> KeyenceReply:
    """Classify one frame's text."""
    if match := _ECHO.fullmatch(text):
        return Echo(match[1])
    if match := _ERROR.fullmatch(text):
        return ErrorReply(match[1], int(match[2]))
    return Line(text)


def encode_line(text: str, framing: Framing) -> bytes:
    """One frame as the reader sends it and takes its commands: CR, CR LF or STX ETX."""
    if not text.isascii() or _NOT_PRINTABLE.search(text.encode("ascii")):
        raise ValueError(f"a frame holds printable ASCII only (got {text!r})")
    raw = text.encode("ascii")
    if framing == "stx_etx":
        return bytes([STX]) + raw + bytes([ETX])
    return raw + (b"\r\n" if framing == "crlf" else b"\r")


class LineFramer(BoundedFrame):
    """Keyence SR style frames of at most `max_line` bytes (see the module docstring)."""

    def __init__(
        self, framing: Framing, max_line: int, counters: FramerCounters | None = None
    ) -> None:
        super().__init__(max_line, counters)
        self.framing = framing
        self._in_frame = False
        """stx_etx only: an STX was seen and its ETX not yet."""

    def reset(self) -> None:
        self._restart()
        self._in_frame = False

    def feed(self, data: bytes) -> list[KeyenceReply]:
        frames: list[KeyenceReply] = []
        if self.framing == "stx_etx":
            self._feed_stx_etx(data, frames)
        else:
            self._feed_lines(data, frames)
        return frames

    def _feed_lines(self, data: bytes, frames: list[KeyenceReply]) -> None:
        start = 0
        while start < len(data):
            end = _LINE_END.search(data, start)
            self._append(data[start : end.start() if end else len(data)])
            if end is None:
                return
            self._close_frame(frames)
            start = end.end()

    def _feed_stx_etx(self, data: bytes, frames: list[KeyenceReply]) -> None:
        start = 0
        while start < len(data):
            control = _STX_OR_ETX.search(data, start)
            stop = control.start() if control else len(data)
            if self._in_frame:
                self._append(data[start:stop])
            else:
                self.counters.garbage_bytes += stop - start
            if control is None:
                return
            if data[stop] == STX:
                if self._in_frame and not self._discarding:
                    # an unfinished frame and its STX
                    self.counters.garbage_bytes += len(self._buffer) + 1
                self._restart()
                self._in_frame = True
            elif self._in_frame:
                self._close_frame(frames)
                self._in_frame = False
            else:
                self.counters.garbage_bytes += 1  # a stray ETX
            start = stop + 1

    def _close_frame(self, frames: list[KeyenceReply]) -> None:
        raw = self._take()
        if not raw:
            return
        if _NOT_PRINTABLE.search(raw):
            self.counters.garbage_bytes += len(raw)
            return
        reply = parse_reply(raw.decode("ascii"))
        self.counters.frames += 1
        if isinstance(reply, Echo):
            self.counters.echoes += 1
        elif isinstance(reply, ErrorReply):
            note_error(self.counters, raw.decode("ascii"))
        frames.append(reply)


# --- Balluff BIS style telegrams ------------------------------------------------------


def block_check(body: bytes) -> int:
    """BCC of a telegram: XOR of every body byte and of the ETX."""
    bcc = ETX
    for byte in body:
        bcc ^= byte
    return bcc


def encode_block_frame(body: bytes) -> bytes:
    """STX body ETX BCC. The body may hold neither STX nor ETX."""
    if STX in body or ETX in body:
        raise ValueError(f"a telegram body may not hold STX or ETX (got {body!r})")
    return bytes([STX]) + body + bytes([ETX, block_check(body)])


class BlockFramer(BoundedFrame):
    """STX body ETX BCC telegrams with bodies of at most `max_body` bytes (see the
    module docstring); yields the bodies."""

    def __init__(self, max_body: int, counters: FramerCounters | None = None) -> None:
        super().__init__(max_body, counters)
        self._state: Literal["outside", "body", "bcc"] = "outside"
        self._opened_by_bcc = False
        """The open frame began at a BCC equal to STX: an empty one is no garbage."""

    def reset(self) -> None:
        self._restart()
        self._state = "outside"
        self._opened_by_bcc = False

    def feed(self, data: bytes) -> list[bytes]:
        bodies: list[bytes] = []
        start = 0
        while start < len(data):
            if self._state == "bcc":
                self._check(data[start], bodies)
                start += 1
                continue
            control = _STX_OR_ETX.search(data, start)
            stop = control.start() if control else len(data)
            if self._state == "body":
                self._append(data[start:stop])
            else:
                self.counters.garbage_bytes += stop - start
            if control is None:
                break
            if data[stop] == STX:
                if self._state == "body" and not self._discarding:
                    opened_by = 0 if self._opened_by_bcc else 1
                    self.counters.garbage_bytes += len(self._buffer) + opened_by
                self._open()
            elif self._state == "body":
                self._state = "bcc"
            else:
                self.counters.garbage_bytes += 1  # a stray ETX
            start = stop + 1
        return bodies

    def _open(self, by_bcc: bool = False) -> None:
        self._restart()
        self._opened_by_bcc = by_bcc
        self._state = "body"

    def _check(self, bcc: int, bodies: list[bytes]) -> None:
        body = self._take()  # None: an over-long telegram, already counted
        self._state = "outside"
        if body is not None and block_check(body) == bcc:
            self.counters.frames += 1
            bodies.append(body)
        elif body is not None:
            # STX, body, ETX, and the BCC unless it may open the next telegram
            self.counters.garbage_bytes += len(body) + (2 if bcc == STX else 3)
            note_error(
                self.counters,
                f"block check mismatch: got {bcc:#04x}, expected {block_check(body):#04x}",
            )
        if bcc == STX:
            # Either the BCC or the STX of the next telegram: open a frame; a real
            # next STX reopens it at no cost.
            self._open(by_bcc=True)
