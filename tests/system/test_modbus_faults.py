"""docs/faults.md rows 1-4 over real TCP: a cut link, a silent peer, late and mismatched
replies, Modbus exceptions 01-04.

Row 1's 30 s cut is shown as 2 s, with a backoff capped at 0.4 s (FAST_LINK
otherwise): the behaviour (down within the stale time, capped backoff with
jitter, back after the link returns) does not depend on the length.
"""

from __future__ import annotations

import asyncio
import struct
import time

import pytest
from modbus_rig import FAST_LINK, plc_config, plc_rig, poll_until

from hal.errors import LinkDown, ModbusExceptionReply, RequestTimeout
from hal.link import LinkState
from hal.modbus.client import ModbusConnection, ModbusCounters
from hal.modbus.plc import ModbusPlc
from simulators.plc import ExceptionReply, LinkDrop, SlowReplies


class Timeline:
    """Every up/down change of a link, with its monotonic time."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, bool, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, state: LinkState) -> None:
        self.changes.append((time.monotonic(), state.up, state.reason))
        self._changed.set()

    async def next(self, up: bool, timeout: float) -> tuple[float, str]:
        """Time and reason of the first change to `up` not yet returned."""
        async with asyncio.timeout(timeout):
            while True:
                for index, (at, is_up, reason) in enumerate(self.changes):
                    if is_up == up:
                        del self.changes[: index + 1]
                        return at, reason
                self._changed.clear()
                await self._changed.wait()


# --- row 1: the PLC link is cut ---------------------------------------------------------


async def test_a_cut_link_goes_down_at_once_backs_off_capped_and_comes_back() -> None:
    link = FAST_LINK.model_copy(update={"backoff_max_s": 0.4})
    async with plc_rig(plc_config(link=link)) as (sim, plc):
        timeline = Timeline()
        plc.link.on_change(timeline)
        cut = time.monotonic()
        sim.inject(LinkDrop(2.0))  # stands for 30 s
        down_at, reason = await timeline.next(up=False, timeout=1.0)
        assert down_at - cut <= link.stale_after_s
        assert "LinkDown" in reason
        with pytest.raises(LinkDown):
            plc.value("estop_ok")
        with pytest.raises(LinkDown):
            await plc.write("andon", 1)
        up_at, _ = await timeline.next(up=True, timeout=4.0)
        # back within one capped wait (plus its jitter and a connect) of the link's return
        assert up_at - (cut + 2.0) <= link.backoff_max_s * 1.2 + 0.2
        delays = plc.link.delays
        assert max(delays) <= link.backoff_max_s * 1.2
        assert sum(d >= link.backoff_max_s for d in delays) >= 2, delays  # the cap was reached
        assert delays[:3] == sorted(delays[:3])  # doubling from the initial wait
        assert plc.value("estop_ok") == 1
        sim.set_input("vehicle_present", 1)
        await plc.wait_for("vehicle_present", 1, timeout=1.0)


async def test_a_link_that_goes_silent_is_marked_down_within_the_stale_time() -> None:
    async with plc_rig() as (sim, plc):
        timeline = Timeline()
        plc.link.on_change(timeline)
        silent = time.monotonic()
        sim.inject(SlowReplies(5.0))  # a pulled cable: no FIN, no reply
        down_at, reason = await timeline.next(up=False, timeout=1.0)
        assert down_at - silent <= FAST_LINK.stale_after_s + 0.05
        assert "stale" in reason
        assert isinstance(plc.last_error, RequestTimeout)
        sim.clear_faults()
        await timeline.next(up=True, timeout=2.0)
        assert plc.counters.connects >= 2  # a fresh client after the stale session


# --- row 2: a peer that accepts and never answers ---------------------------------------


class RawPeer(asyncio.Protocol):
    """Just enough of a Modbus TCP server to misbehave (a raw asyncio server, port 0).

    Modes: "silent" never answers; "wrong_ids" answers each request with a frame
    of another transaction id, then one with id 0 (both claiming all inputs are 1),
    then the right reply (all 0); "late_first" answers the first request of a
    connection after `late_s`, the others at once.
    """

    def __init__(self, mode: str, late_s: float = 0.0) -> None:
        self.mode = mode
        self.late_s = late_s
        self.accepted = 0
        self.open: set[asyncio.Transport] = set()
        self.sent = 0
        self._server: asyncio.Server | None = None
        self._timers: list[asyncio.TimerHandle] = []

    async def __aenter__(self) -> RawPeer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _RawConnection(self), "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        for transport in list(self.open):
            transport.abort()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def answer(self, transport: asyncio.Transport, tid: int, unit: int, count: int, n: int) -> None:
        def frame(tid: int, bits: int) -> bytes:
            pdu = bytes([2, (count + 7) // 8]) + bits.to_bytes((count + 7) // 8, "little")
            return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu

        def send(data: bytes) -> None:
            if not transport.is_closing():
                transport.write(data)
                self.sent += 1

        everything = (1 << count) - 1
        if self.mode == "wrong_ids":
            send(frame((tid + 1000) & 0xFFFF, everything) + frame(0, everything))
            send(frame(tid, 0))
        elif self.mode == "late_first" and n == 0:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(self.late_s, send, frame(tid, everything)))
        elif self.mode == "late_first":
            send(frame(tid, 0))


class _RawConnection(asyncio.Protocol):
    def __init__(self, peer: RawPeer) -> None:
        self._peer = peer
        self._buffer = b""
        self._requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._peer.accepted += 1
        self._peer.open.add(transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 12:
            tid, _, length, unit = struct.unpack_from(">HHHB", self._buffer)
            function, _, count = struct.unpack_from(">BHH", self._buffer, 7)
            self._buffer = self._buffer[6 + length :]
            assert function == 2, "this peer only answers reads of discrete inputs"
            self._peer.answer(self._transport, tid, unit, count, self._requests)
            self._requests += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._peer.open.discard(self._transport)


async def test_a_silent_peer_never_hangs_the_driver() -> None:
    async with RawPeer("silent") as peer:
        plc = ModbusPlc("plc", plc_config(host="127.0.0.1", port=peer.port))
        timeline = Timeline()
        plc.link.on_change(timeline)
        await plc.start()
        try:
            await poll_until(lambda: plc.counters.timeouts >= 3, timeout=2.0)
            assert peer.accepted >= 3
            assert not any(up for _, up, _ in timeline.changes)
            assert "RequestTimeout" in plc.link.state.reason
            await poll_until(lambda: len(peer.open) <= 1, timeout=1.0)  # old clients closed
        finally:
            async with asyncio.timeout(1.0):
                await plc.stop()
        assert plc.counters.connects == peer.accepted  # a fresh client per attempt


async def test_a_request_to_a_silent_peer_ends_after_its_timeout_and_retries() -> None:
    link = FAST_LINK.model_copy(update={"retries": 2})
    counters = ModbusCounters()
    async with RawPeer("silent") as peer:
        connection = ModbusConnection("plc", "127.0.0.1", peer.port, 1, link, counters)
        await connection.connect()
        try:
            started = time.monotonic()
            with pytest.raises(RequestTimeout, match=r"3 attempt\(s\)"):
                await connection.read("discrete_input", 0, 7)
            assert time.monotonic() - started < 3 * link.request_timeout_s + 0.2
        finally:
            connection.close()
    assert counters.timeouts == 3


# --- row 3: late replies and wrong transaction ids --------------------------------------


async def test_replies_with_another_transaction_id_are_discarded_and_counted() -> None:
    counters = ModbusCounters()
    async with RawPeer("wrong_ids") as peer:
        connection = ModbusConnection("plc", "127.0.0.1", peer.port, 1, FAST_LINK, counters)
        await connection.connect()
        try:
            for _ in range(3):
                assert await connection.read("discrete_input", 0, 7) == [0] * 7
        finally:
            connection.close()
    assert counters.discarded_replies == 6  # per request: another id, and id 0
    assert counters.timeouts == 0


async def test_a_late_reply_is_never_taken_for_a_later_request() -> None:
    late_s = FAST_LINK.request_timeout_s * 1.5
    async with RawPeer("late_first", late_s=late_s) as peer:
        # The late reply arrives while the next request waits for its own.
        busy = ModbusCounters()
        connection = ModbusConnection("plc", "127.0.0.1", peer.port, 1, FAST_LINK, busy)
        await connection.connect()
        try:
            with pytest.raises(RequestTimeout):
                await connection.read("discrete_input", 0, 7)
            assert await connection.read("discrete_input", 0, 7) == [0] * 7
            await poll_until(lambda: busy.discarded_replies == 1, timeout=1.0)
        finally:
            connection.close()
        # The late reply arrives while nothing is outstanding (it carries the id of
        # the last request, which pymodbus alone would take and drop silently).
        idle = ModbusCounters()
        connection = ModbusConnection("plc", "127.0.0.1", peer.port, 1, FAST_LINK, idle)
        await connection.connect()
        try:
            sent = peer.sent
            with pytest.raises(RequestTimeout):
                await connection.read("discrete_input", 0, 7)
            await poll_until(lambda: peer.sent > sent and idle.discarded_replies == 1, 1.0)
            assert await connection.read("discrete_input", 0, 7) == [0] * 7
        finally:
            connection.close()
    assert busy.discarded_replies == 1 and idle.discarded_replies == 1


async def test_late_replies_from_a_slow_plc_are_counted_and_the_link_survives() -> None:
    link = FAST_LINK.model_copy(update={"stale_after_s": 2.0})
    async with plc_rig(plc_config(link=link)) as (sim, plc):
        sim.inject(SlowReplies(link.request_timeout_s * 1.5))
        await poll_until(lambda: plc.counters.discarded_replies >= 2, timeout=2.0)
        assert plc.counters.timeouts >= 2
        sim.clear_faults()
        sim.set_input("estop_ok", 0)
        await plc.wait_for("estop_ok", 0, timeout=1.0)
        assert plc.link.state.up


# --- row 4: Modbus exceptions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1, "illegal function"),
        (2, "illegal data address"),
        (3, "illegal data value"),
        (4, "server device failure"),
    ],
)
async def test_an_exception_reply_is_typed_names_the_register_and_is_not_retried(
    code: int, name: str
) -> None:
    link = FAST_LINK.model_copy(update={"retries": 2})
    async with plc_rig(plc_config(link=link)) as (sim, plc):
        sim.inject(ExceptionReply(code, "coil", 5))
        with pytest.raises(ModbusExceptionReply) as caught:
            await plc.write("andon", 1)
        error = caught.value
        assert (error.device, error.table, error.address, error.code) == ("plc", "coil", 5, code)
        assert str(error) == f"plc: exception {code:02d} ({name}) on coil 5"
        assert error.retryable == (code == 4)
        assert sim.requests["write", "coil", 5] == 1  # never retried, not even 04
        assert plc.counters.exception_replies == 1
        assert plc.link.state.up  # a refused write is not a lost link


async def test_an_exception_on_the_poll_takes_the_link_down_naming_the_register() -> None:
    async with plc_rig() as (sim, plc):
        timeline = Timeline()
        plc.link.on_change(timeline)
        sim.inject(ExceptionReply(2, "discrete_input", 6))
        _, reason = await timeline.next(up=False, timeout=1.0)
        assert "exception 02 (illegal data address) on discrete_input 0" in reason
        assert isinstance(plc.last_error, ModbusExceptionReply)
        sim.clear_faults()
        await timeline.next(up=True, timeout=2.0)


async def test_a_device_failure_on_the_poll_is_tolerated_until_the_data_is_stale() -> None:
    async with plc_rig() as (sim, plc):
        timeline = Timeline()
        plc.link.on_change(timeline)
        failing = time.monotonic()
        sim.inject(ExceptionReply(4, "discrete_input", 0))
        down_at, reason = await timeline.next(up=False, timeout=1.0)
        assert "stale" in reason
        assert (
            down_at - failing >= FAST_LINK.stale_after_s - 0.02
        )  # last good poll: < 1 period before
        assert isinstance(plc.last_error, ModbusExceptionReply) and plc.last_error.code == 4
