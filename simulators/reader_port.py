"""Where a simulated reader is plugged in: a pseudo-terminal or a TCP listener.

The barcode and RFID simulators serve their protocol over a
`hal.readers.transport.ByteStream`; this module gives them one.

pty: `os.openpty()`; the slave is the serial port the driver opens. It is
put in raw mode here so that any bench tool sees the bytes untouched, and
the simulator keeps a slave descriptor of its own: without one, the master
would read EIO and poll as hung up (a busy loop) whenever no driver is
attached. With a link path (`station sim ... --pty PATH`) a symlink to the
slave is kept at PATH, standing for udev's stable `/dev/serial/by-id` name:
the driver's endpoint is the link, and it survives an unplug.

TCP: one listener on an address (give an IP address: a name that resolves
to several would get one port each); each connection is served by its own
named task.

`unplug(seconds)` (docs/faults.md row 5):
- pty: the master and the simulator's slave are closed, so the driver's
  read fails (EIO) and the slave path disappears (open: ENOENT), like a
  USB adapter pulled out; after `seconds` a new pty is made and the link
  repointed. Without a link the new slave has another path, as an adapter
  that comes back under another name: see `endpoint_update()`.
- TCP: the listener and every connection are closed (connect refused);
  after `seconds` it listens again on the same port.
"""

from __future__ import annotations

import abc
import asyncio
import errno
import functools
import os
import tty
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from hal.readers.transport import ByteStream, FdStream, TcpStream, tcp_endpoint

log = structlog.get_logger(__name__)

Serve = Callable[[ByteStream], Awaitable[None]]
"""A simulator's protocol loop on one stream; ends by raising ConnectionError."""


@dataclass(frozen=True)
class Unplug:
    """The reader is unplugged for `seconds` (a USB adapter pulled, a cable cut)."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"Unplug.seconds must be >= 0 (got {self.seconds})")


class SimReaderPort:
    """A pty or a TCP listener that a simulated reader serves (see the module docstring)."""

    def __init__(
        self,
        name: str,
        serve: Serve,
        *,
        pty: bool | str = False,
        listen: tuple[str, int] | None = None,
    ) -> None:
        if pty and listen is not None:
            raise ValueError(f"{name}: serve a pty or a TCP listener, not both")
        self.name = name
        self._serve = serve
        self._pty = bool(pty)
        self._link_path = pty if isinstance(pty, str) else None
        self._host, self._port = listen if listen is not None else ("127.0.0.1", 0)
        self.slave_path: str | None = None
        """The pty's slave device (changes at every plug-in)."""
        self._slave_fd: int | None = None
        self._pty_task: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._unplug_task: asyncio.Task[None] | None = None
        self.failures: list[BaseException] = []
        """Errors that ended a serving task; `stop()` raises the first."""

    async def start(self) -> None:
        await self._plug()

    async def stop(self) -> None:
        if self._unplug_task is not None:
            self._unplug_task.cancel()
            await asyncio.gather(self._unplug_task, return_exceptions=True)
            self._unplug_task = None
        await self._unplug_now()
        self._drop_link()
        if self.failures:
            raise RuntimeError(f"{self.name}: simulator failed") from self.failures[0]

    def endpoint_update(self) -> dict[str, str]:
        """The driver config's endpoint for this simulator."""
        if self._pty:
            endpoint = self._link_path or self.slave_path
            if endpoint is None:
                raise RuntimeError(f"{self.name}: not started")
            return {"endpoint": endpoint}
        return {"endpoint": tcp_endpoint(self._host, self._port)}

    def unplug(self, seconds: float) -> None:
        """Unplug now, plug back in after `seconds` (in a named task)."""
        if self._unplug_task is not None and not self._unplug_task.done():
            raise RuntimeError(f"{self.name}: already unplugged")
        self._unplug_task = self._spawn(self._unplug_for(seconds), f"sim:{self.name}:unplug")

    async def _unplug_for(self, seconds: float) -> None:
        await self._unplug_now()
        log.info("sim_unplugged", sim=self.name, seconds=seconds)
        await asyncio.sleep(seconds)  # simulated time out of the socket
        await self._plug()
        log.info("sim_plugged", sim=self.name, **self.endpoint_update())

    async def _plug(self) -> None:
        if self._pty:
            self._open_pty()
        else:
            self._server = await asyncio.start_server(self._on_client, self._host, self._port)
            self._port = self._server.sockets[0].getsockname()[1]

    async def _unplug_now(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        tasks = list(self._clients)
        if self._pty_task is not None:
            tasks.append(self._pty_task)
            self._pty_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # failures: see _on_done
        if self._slave_fd is not None:
            os.close(self._slave_fd)
            self._slave_fd = None

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            slave_path = os.ttyname(slave)
            if self._link_path is not None:
                self._point_link(self._link_path, slave_path)
        except OSError:
            os.close(slave)
            os.close(master)
            raise
        self._slave_fd = slave
        self.slave_path = slave_path
        stream = FdStream(master, f"{self.name} pty master", functools.partial(os.close, master))
        self._pty_task = self._spawn(self._serve_pty(stream), f"sim:{self.name}:pty")

    def _drop_link(self) -> None:
        if self._link_path is not None and os.path.islink(self._link_path):
            os.unlink(self._link_path)

    @staticmethod
    def _point_link(link: str, target: str) -> None:
        if os.path.lexists(link) and not os.path.islink(link):
            raise FileExistsError(
                errno.EEXIST, "exists and is not a symlink; not replacing it", link
            )
        staging = f"{link}.{os.getpid()}.new"
        os.symlink(target, staging)
        os.replace(staging, link)

    async def _serve_pty(self, stream: FdStream) -> None:
        try:
            await self._serve(stream)
        finally:
            await stream.aclose()

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        stream = TcpStream(reader, writer, f"{self.name} client {host}:{port}")
        task = self._spawn(self._serve_client(stream), f"sim:{self.name}:client:{port}")
        self._clients.add(task)
        task.add_done_callback(self._clients.discard)

    async def _serve_client(self, stream: TcpStream) -> None:
        try:
            await self._serve(stream)
        except ConnectionError as exc:
            log.info("sim_client_gone", sim=self.name, reason=str(exc))
        finally:
            await stream.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_done)
        return task

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("sim_task_failed", sim=self.name, task=task.get_name(), error=repr(exc))
            self.failures.append(exc)


class SimReader(abc.ABC):
    """Base of the reader simulators: a protocol loop served on a `SimReaderPort`."""

    def __init__(self, name: str, *, pty: bool | str, listen: tuple[str, int] | None) -> None:
        self.port = SimReaderPort(name, self._serve, pty=pty, listen=listen)

    async def start(self) -> None:
        await self.port.start()

    async def stop(self) -> None:
        await self.port.stop()

    def endpoint_update(self) -> dict[str, str]:
        """The driver config's endpoint for this simulator, e.g.
        {"endpoint": "/dev/pts/7"} or {"endpoint": "tcp://127.0.0.1:41234"}."""
        return self.port.endpoint_update()

    @abc.abstractmethod
    async def _serve(self, stream: ByteStream) -> None:
        """The protocol on one stream, until it raises ConnectionError."""


async def serve_until_cancelled(device: SimReader, kind: str) -> None:
    """Run a simulator standalone (`station sim ...`) until the task is cancelled."""
    await device.start()
    try:
        log.info("sim_ready", device=kind, **device.endpoint_update())
        await asyncio.get_running_loop().create_future()
    finally:
        await device.stop()
