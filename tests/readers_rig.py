"""Rigs of the reader tests (barcode, RFID): a simulator with its driver attached,
the unplug check of docs/faults.md row 5, the standalone simulator in a task, a
reader that answers its handshake and nothing else."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hal.errors import LinkDown
from hal.link import LinkState, LinkSupervisor
from hal.readers.transport import FdStream, ReaderDevice, parse_tcp_endpoint
from simulators.reader_port import SimReader

LINK = {
    "connect_timeout_s": 0.5,
    "request_timeout_s": 0.2,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.2,
}
"""Link settings of the test readers: short timeouts, quick reconnects."""
UP_WITHIN_S = 5.0

ReaderT = TypeVar("ReaderT", bound=ReaderDevice[Any])


@asynccontextmanager
async def connected(reader: ReaderT) -> AsyncIterator[ReaderT]:
    """The reader started and its link up; stopped on exit."""
    await reader.start()
    try:
        await reader.link.wait_up(UP_WITHIN_S)
        yield reader
    finally:
        await reader.stop()


@asynccontextmanager
async def attached(
    sim: SimReader, reader_for: Callable[[dict[str, str]], ReaderT]
) -> AsyncIterator[ReaderT]:
    """The simulator started, and a reader made for its endpoint connected to it."""
    await sim.start()
    try:
        async with connected(reader_for(sim.endpoint_update())) as reader:
            yield reader
    finally:
        await sim.stop()


async def wait_link_down(link: LinkSupervisor, timeout: float) -> LinkState:
    """Return the link's state once it is down; TimeoutError after `timeout` s."""
    down = asyncio.Event()
    link.on_change(lambda state: None if state.up else down.set())
    if link.state.up:
        async with asyncio.timeout(timeout):
            await down.wait()
    return link.state


async def outage_seen(
    reader: ReaderDevice[Any], operation: Callable[[], Awaitable[object]]
) -> None:
    """docs/faults.md row 5, after an Unplug was injected: the reader goes down, an
    operation meanwhile raises LinkDown, and the same reader object comes back up
    by its supervisor reopening the port (no restart)."""
    attempts = reader.link.attempts
    state = await wait_link_down(reader.link, timeout=2.0)
    assert not state.up and state.reason
    with pytest.raises(LinkDown, match=f"{reader.name}: link"):
        await operation()
    await reader.link.wait_up(UP_WITHIN_S)
    assert reader.link.attempts > attempts, "the supervisor reopened the port"


def standalone_endpoint(
    mode: str, port: int, tmp_path: Path, device: str
) -> tuple[tuple[str, int] | None, str | None, str]:
    """`run_standalone` arguments (listen, pty) for a mode, and the endpoint they give."""
    if mode == "listen":
        return ("127.0.0.1", port), None, f"tcp://127.0.0.1:{port}"
    link = str(tmp_path / f"tty{device.upper()}")
    return None, link, link


@asynccontextmanager
async def running_standalone(run: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """`run_standalone` in a named task, cancelled on exit: it must stop cleanly."""
    task = asyncio.create_task(run, name=name)
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@asynccontextmanager
async def raw_client(
    sim: SimReader,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """The simulator started (on TCP) and a plain client of it, for what a driver never sends."""
    await sim.start()
    try:
        host, port = parse_tcp_endpoint(sim.endpoint_update()["endpoint"])
        reader, writer = await asyncio.open_connection(host, port)
        try:
            yield reader, writer
        finally:
            writer.close()
            await writer.wait_closed()
    finally:
        await sim.stop()


@asynccontextmanager
async def silent_after_handshake(answer: bytes) -> AsyncIterator[tuple[str, FdStream]]:
    """A pty whose far end answers the driver's handshake with `answer`, then says
    nothing: a reader that was there at connect and has hung since. Yields the
    path the driver opens and the far end, where what the driver sent next is read."""
    master, slave = os.openpty()
    far_end = FdStream(master, "far end", functools.partial(os.close, master))

    async def answer_handshake() -> None:
        await far_end.read_chunk()  # the handshake request, one short write
        await far_end.write(answer)

    task = asyncio.create_task(answer_handshake(), name="far-end")
    try:
        yield os.ttyname(slave), far_end
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        os.close(slave)
        await far_end.aclose()
