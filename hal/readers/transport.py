"""The byte stream under a reader, and the supervised connection that owns it.

A reader's endpoint selects the transport: `tcp://HOST:PORT` is a TCP
connection (asyncio streams); anything else is a serial device path
(`/dev/ttyUSB0`, or a link to one such as udev's `/dev/serial/by-id/...`).

Serial design: pyserial opens the port (exclusive lock, line settings,
input flushed) and leaves its descriptor non-blocking; from then on the
descriptor is read and written directly from the event loop (`add_reader` /
`add_writer`, `os.read` of up to CHUNK bytes a call). No thread, and never
byte by byte (pyserial's `readline` makes one system call a byte). An
unplugged USB adapter shows as a readable descriptor whose read fails (EIO)
or returns nothing: the stream raises ConnectionError.

`ReaderPort` is the connection of one reader (`ReaderDevice`, the base of
the drivers, owns one): its `LinkSupervisor` opens the stream, sends the
driver's `Handshake` (a version request) and waits for the reader's answer,
marks the link up, and pumps every chunk through the device's framer into
a bounded queue of frames, until the stream fails; then the supervisor marks
the link down and reopens the port after its capped backoff (docs/faults.md row
5: no restart). Requests (one at a time, serialized by the driver) write
through `send()` and take frames with `next_frame()`.

The link is up only once the peer answered the handshake as the reader does,
within `link.connect_timeout_s`: a TCP port where some other server listens
(an HTTP server, a silent socket), or a serial line with nothing powered at
the far end, stays down with the reason (`NotAReader`: what was asked, and
what the peer sent instead, if anything) and is retried with the backoff. A
reader that answered and then falls silent shows as RequestTimeout on its
requests, not as a down link.

Boundary: no protocol here; framing is `hal.readers.framing`, commands are in
the drivers. The simulators use the same streams on their side of a pty or a
socket.
"""

from __future__ import annotations

import asyncio
import os
import re
import termios
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import serial
import structlog

from hal.config import LinkSettings, SerialSettings
from hal.errors import LinkDown, RequestTimeout
from hal.interfaces import FramerCounters
from hal.link import LinkSupervisor
from hal.readers.framing import Framer

log = structlog.get_logger(__name__)

CHUNK = 4096
"""Bytes asked for by one read system call."""

MAX_PENDING_FRAMES = 64
"""Frames kept between requests; older ones are dropped (and counted) first."""

HEARD_BYTES = 60
"""Bytes of a peer's wrong answer quoted in the link's down reason."""

_TCP_ENDPOINT = re.compile(
    r"^tcp://(?:\[(?P<ip6>[0-9a-fA-F:]+)\]|(?P<host>[^:/\[\]]+)):(?P<port>\d+)$"
)


class ByteStream(Protocol):
    """A bidirectional byte stream: a serial port, a pty side or a TCP connection."""

    description: str

    async def read_chunk(self) -> bytes:
        """The next bytes available (at least one); ConnectionError when the peer is gone."""
        ...

    async def write(self, data: bytes) -> None:
        """Write every byte of `data`; ConnectionError when the peer is gone."""
        ...

    async def aclose(self) -> None:
        """Release the descriptor or socket."""
        ...


def _ready(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FdStream:
    """A stream over a non-blocking descriptor (serial port, pty master or slave)."""

    def __init__(self, fd: int, description: str, close: Callable[[], None]) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.description = description
        self._close = close
        self._closed = False

    async def read_chunk(self) -> bytes:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = os.read(self.fd, CHUNK)
            except BlockingIOError:
                await self._wait(loop.add_reader, loop.remove_reader)
                continue
            except OSError as exc:
                raise ConnectionError(f"{self.description}: read failed: {exc}") from exc
            if not data:
                raise ConnectionError(f"{self.description}: end of file (device gone)")
            return data

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                await self._wait(loop.add_writer, loop.remove_writer)
            except OSError as exc:
                raise ConnectionError(f"{self.description}: write failed: {exc}") from exc

    async def _wait(
        self,
        add: Callable[[int, Callable[[asyncio.Future[None]], None], asyncio.Future[None]], None],
        remove: Callable[[int], bool],
    ) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        add(self.fd, _ready, future)
        try:
            await future
        finally:
            remove(self.fd)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()


class TcpStream:
    """A stream over an asyncio TCP connection."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, description: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.description = description

    async def read_chunk(self) -> bytes:
        data = await self._reader.read(CHUNK)
        if not data:
            raise ConnectionError(f"{self.description}: connection closed by the peer")
        return data

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError as exc:
            # the peer reset a connection we are dropping anyway: nothing left to do
            log.debug("close_after_reset", stream=self.description, error=str(exc))


def parse_tcp_endpoint(endpoint: str) -> tuple[str, int]:
    """`tcp://HOST:PORT` -> (host, port); ValueError naming the endpoint otherwise."""
    match = _TCP_ENDPOINT.match(endpoint)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"not a tcp://HOST:PORT endpoint with a port 1..65535: {endpoint!r}")
    return match["ip6"] or match["host"], int(match["port"])


def tcp_endpoint(host: str, port: int) -> str:
    """The `tcp://` endpoint of a host and port (IPv6 addresses in brackets)."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def open_serial(path: str, settings: SerialSettings) -> FdStream:
    """Open a serial port (exclusively) with its line settings, input flushed."""
    port = serial.Serial(
        path,
        baudrate=settings.baudrate,
        bytesize=settings.bytesize,
        parity=settings.parity,
        stopbits=settings.stopbits,
        timeout=0,
        exclusive=True,
    )
    fd = port.fileno()
    try:
        # pyserial leaves VMIN=0: a read without data would then return 0 bytes, the
        # sign of an unplugged device, instead of failing with EAGAIN.
        attributes = termios.tcgetattr(fd)
        attributes[6][termios.VMIN] = 1
        attributes[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attributes)
    except BaseException:
        port.close()
        raise
    return FdStream(fd, f"serial {path}", port.close)


async def open_stream(
    endpoint: str, serial_settings: SerialSettings, link: LinkSettings
) -> ByteStream:
    """Open the endpoint's transport within the link's connect timeout."""
    if not endpoint.startswith("tcp://"):
        return open_serial(endpoint, serial_settings)
    host, port = parse_tcp_endpoint(endpoint)
    try:
        async with asyncio.timeout(link.connect_timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        raise ConnectionError(
            f"{endpoint}: no connection within {link.connect_timeout_s} s"
        ) from None
    return TcpStream(reader, writer, endpoint)


FrameT = TypeVar("FrameT")


class NotAReader(ConnectionError):
    """The peer did not answer the handshake as the reader: the link stays down."""


@dataclass(frozen=True)
class Handshake(Generic[FrameT]):
    """What a reader is asked when its port opens, and how its answer is recognised."""

    command: str
    """The request's name, for the down reason (e.g. `RVER`)."""
    request: bytes
    """The request as sent, framed."""
    answer: Callable[[FrameT], str | None]
    """The reader's identity (model, version) if a frame is the answer, else None
    (a stale frame, or a stranger's)."""
    reader: str
    """What answers it, for the down reason (e.g. `a Keyence SR reader`)."""


class ReaderSection(Protocol):
    """The part of a reader's config section the connection reads."""

    @property
    def endpoint(self) -> str: ...

    @property
    def serial(self) -> SerialSettings: ...

    @property
    def link(self) -> LinkSettings: ...


class ReaderDevice(Generic[FrameT]):
    """What every reader driver is: a name, a framer's counters, a supervised port,
    and one request at a time (`_lock`)."""

    def __init__(self, name: str, port: ReaderPort[FrameT]) -> None:
        self.name = name
        self.port = port
        self.counters: FramerCounters = port.counters
        self.link: LinkSupervisor = port.link
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.link.start()

    async def stop(self) -> None:
        await self.link.stop()


class ReaderPort(Generic[FrameT]):
    """The supervised connection of one reader (see the module docstring)."""

    def __init__(
        self,
        name: str,
        section: ReaderSection,
        framer: Framer[FrameT],
        handshake: Handshake[FrameT],
    ) -> None:
        self.name = name
        self.endpoint = section.endpoint
        self._serial = section.serial
        self._framer = framer
        self.counters = framer.counters
        self._handshake = handshake
        self.identity: str | None = None
        """What the reader said of itself in answer to the handshake (None: not yet)."""
        self.link = LinkSupervisor(name, section.link, self._session)
        self._stream: ByteStream | None = None
        self._frames: deque[FrameT] = deque()
        self._arrived = asyncio.Event()
        self.received = 0
        """Bytes received since start (tells a silent reader from a no-read)."""
        self.chunks = 0
        """Reads that returned data since start."""
        self.stale_frames = 0
        """Frames that arrived while no request wanted them, dropped."""

    async def _session(self, link: LinkSupervisor) -> None:
        stream = await open_stream(self.endpoint, self._serial, link.settings)
        try:
            self._framer.reset()
            self.discard_frames()
            self.identity = await self._greet(stream, link.settings.connect_timeout_s)
            log.info("reader_identified", reader=self.name, identity=self.identity)
            self._stream = stream
            link.mark_up()
            while True:
                chunk = await stream.read_chunk()
                self.received += len(chunk)
                self.chunks += 1
                for frame in self._framer.feed(chunk):
                    if len(self._frames) == MAX_PENDING_FRAMES:
                        self._frames.popleft()
                        self.stale_frames += 1
                    self._frames.append(frame)
                self._arrived.set()
        finally:
            self._stream = None
            self._arrived.set()  # a waiting request sees the loss at once
            await stream.aclose()

    async def _greet(self, stream: ByteStream, timeout: float) -> str:
        """Send the handshake; the reader's identity once a frame answers it.
        NotAReader if the peer does not answer so within `timeout` seconds."""
        handshake = self._handshake
        asked = f"{handshake.command} as {handshake.reader}"
        heard = bytearray()
        try:
            async with asyncio.timeout(timeout):
                await stream.write(handshake.request)
                while True:
                    chunk = await stream.read_chunk()
                    heard += chunk[: HEARD_BYTES - len(heard)]
                    for frame in self._framer.feed(chunk):
                        if (identity := handshake.answer(frame)) is not None:
                            return identity
        except TimeoutError:
            failure = f"{stream.description} did not answer {asked} within {timeout} s"
        except ConnectionError as exc:
            failure = f"{exc}, before answering {asked}"
        said = f"it sent {bytes(heard)!r}" if heard else "it sent nothing"
        raise NotAReader(f"{failure}; {said}")

    def check_up(self) -> ByteStream:
        """The open stream; LinkDown if the port is not open."""
        if self._stream is None:
            raise LinkDown(self.name, f"link down ({self.link.state.reason})")
        return self._stream

    def discard_frames(self) -> None:
        """Drop frames that arrived before the current request (late or unsolicited)."""
        self.stale_frames += len(self._frames)
        self._frames.clear()

    async def send(self, data: bytes, timeout: float) -> None:
        """Write `data`; RequestTimeout if the port does not take it within `timeout`."""
        stream = self.check_up()
        try:
            async with asyncio.timeout(timeout):
                await stream.write(data)
        except TimeoutError:
            raise RequestTimeout(
                self.name, f"{len(data)} bytes not taken by {stream.description} in {timeout} s"
            ) from None
        except ConnectionError as exc:
            raise LinkDown(self.name, f"link lost while sending: {exc}") from exc

    async def next_frame(self, deadline: float) -> FrameT | None:
        """The next frame, or None once the loop time passes `deadline` (monotonic);
        LinkDown if the connection is lost meanwhile."""
        stream = self._stream
        try:
            async with asyncio.timeout_at(deadline):
                while not self._frames:
                    if stream is None or self._stream is not stream:
                        raise LinkDown(self.name, f"link lost ({self.link.state.reason})")
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            return None
        return self._frames.popleft()

    def take_frames(self) -> list[FrameT]:
        """Every frame already received, without waiting."""
        frames = list(self._frames)
        self._frames.clear()
        return frames
