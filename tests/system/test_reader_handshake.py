"""A reader's link is up only when the reader answered as a reader (issue 13).

At connect the Keyence SR driver sends `RVER` and the BIS driver a version
telegram ('V'); the simulators answer like the devices. A TCP server that is
not the reader (silent, or an HTTP server answering 400), or a serial line
where nothing answers, leaves the link down with the reason, and the link
supervisor tries again after its backoff. Real sockets and ptys, loopback only.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from readers_rig import LINK, attached
from test_barcode import reader_config
from test_rfid import head_config

from hal.errors import LinkDown
from hal.link import LinkState
from hal.readers.bis import BisTagReader
from hal.readers.keyence import KeyenceReader
from hal.readers.transport import FdStream, ReaderDevice, tcp_endpoint
from simulators import barcode, rfid
from simulators.barcode import SimBarcode
from simulators.rfid import SimRfid, TagStore

pytest_plugins = ["readers_fixtures"]
pytestmark = pytest.mark.usefixtures("no_leaked_fds")

HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
RETRIED_WITHIN_S = 5.0

Request = Callable[[], Awaitable[object]]

ASKED = {"barcode": "RVER as a Keyence SR reader", "rfid": "V as a BIS processor"}


def make_reader(kind: str, endpoint: str) -> tuple[ReaderDevice[Any], Request]:
    """The driver of a kind on `endpoint`, and a request of it."""
    if kind == "barcode":
        code_reader = KeyenceReader("barcode", reader_config(endpoint))
        return code_reader, code_reader.read
    tag_reader = BisTagReader("rfid", head_config(endpoint))
    return tag_reader, tag_reader.scan


class Stranger:
    """A TCP server that is not a reader: `silent` accepts and says nothing, `http`
    answers any bytes with HTTP 400 and closes, as a web server does."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.retried = asyncio.Event()
        """Set at the second connection: the supervisor tried again."""
        self._open: set[asyncio.StreamWriter] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections >= 2:
            self.retried.set()
        self._open.add(writer)
        try:
            await reader.read(4096)  # the handshake, or the end of the connection
            if self.behaviour == "http":
                writer.write(HTTP_400)
                await writer.drain()
            else:
                await reader.read()  # silent until the client goes
        finally:
            self._open.discard(writer)
            writer.close()

    def close_connections(self) -> None:
        for writer in self._open:
            writer.close()


@pytest.fixture
async def stranger(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Stranger, str]]:
    peer = Stranger(request.param)
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    try:
        yield peer, tcp_endpoint("127.0.0.1", server.sockets[0].getsockname()[1])
    finally:
        server.close()
        peer.close_connections()
        await server.wait_closed()


def ups_of(device: ReaderDevice[Any]) -> list[LinkState]:
    """Every time the device's link comes up from now on."""
    ups: list[LinkState] = []
    device.link.on_change(lambda state: ups.append(state) if state.up else None)
    return ups


@pytest.mark.parametrize("kind", ["barcode", "rfid"])
@pytest.mark.parametrize("stranger", ["silent", "http"], indirect=True)
async def test_a_server_that_is_not_the_reader_leaves_the_link_down(
    kind: str, stranger: tuple[Stranger, str]
) -> None:
    peer, endpoint = stranger
    device, request = make_reader(kind, endpoint)
    ups = ups_of(device)
    await device.start()
    try:
        async with asyncio.timeout(RETRIED_WITHIN_S):
            await peer.retried.wait()
        state = device.link.state
        assert not state.up and ups == []
        if peer.behaviour == "silent":
            assert state.reason == (
                f"NotAReader: {endpoint} did not answer {ASKED[kind]} within "
                f"{LINK['connect_timeout_s']} s; it sent nothing"
            )
        else:
            assert state.reason.startswith(
                f"NotAReader: {endpoint}: connection closed by the peer, before answering "
                f"{ASKED[kind]}; it sent b'HTTP/1.1 400 Bad Request\\r\\n"
            )
        assert device.link.delays, "retried after a backoff wait"
        with pytest.raises(LinkDown, match=f"link down \\(NotAReader: {endpoint}"):
            await request()
    finally:
        await device.stop()


async def test_a_serial_line_where_nothing_answers_stays_down() -> None:
    master, slave = os.openpty()
    far_end = FdStream(master, "far end", functools.partial(os.close, master))
    path = os.ttyname(slave)
    device, _ = make_reader("barcode", path)
    ups = ups_of(device)
    await device.start()
    try:
        asked = b""
        async with asyncio.timeout(RETRIED_WITHIN_S):
            while asked.count(b"RVER\r") < 2:  # asked at each attempt, never answered
                asked += await far_end.read_chunk()
        assert ups == []
        assert device.link.state.reason.startswith(
            f"NotAReader: serial {path} did not answer RVER as a Keyence SR reader"
        )
    finally:
        await device.stop()
        os.close(slave)
        await far_end.aclose()


def sim_of(kind: str, transport: str) -> SimBarcode | SimRfid:
    if kind == "barcode":
        return SimBarcode(reader_config(), pty=transport == "pty")
    return SimRfid(head_config(), TagStore(), pty=transport == "pty")


@pytest.mark.parametrize(
    ("kind", "version"), [("barcode", barcode.VERSION), ("rfid", rfid.VERSION)]
)
async def test_the_simulators_answer_as_the_readers(
    kind: str, version: str, transport: str
) -> None:
    def driver_for(update: dict[str, str]) -> ReaderDevice[Any]:
        return make_reader(kind, update["endpoint"])[0]

    async with attached(sim_of(kind, transport), driver_for) as device:
        assert device.link.state.up
        assert device.port.identity == version
