"""The Modbus TCP request layer both Modbus drivers (PLC, turntable) stand on.

Design
------
- `ModbusConnection` is one connection attempt: a fresh pymodbus
  `AsyncModbusTcpClient` (its own reconnect disabled), used by one request at
  a time (an asyncio lock serializes every request of the connection, so a
  poll and a write never interleave on the wire). Timeouts and retries come
  from `LinkSettings`, never from pymodbus' defaults: each request is bounded
  by `request_timeout_s` and retried `retries` times after a timeout only. A
  Modbus exception reply is never retried here; it becomes a
  `ModbusExceptionReply` naming the table and address.
- A reply is taken only if it carries the transaction id (and unit id) of the
  request in flight. Every other frame (a late reply to a request that timed
  out, a reply with a wrong or zero transaction id, a frame while nothing is
  outstanding) is discarded and counted in `ModbusCounters.discarded_replies`.
- `PolledModbusDevice`, the drivers' base, owns the device's `LinkSupervisor`:
  per attempt it opens a fresh connection, runs the driver's first poll (the
  link is marked up only with fresh data), then polls at a fixed rate. No good poll within
  `stale_after_s` ends the session: the link goes down for every consumer and
  the supervisor reconnects with capped, jittered backoff.

Boundary: this module knows Modbus tables and addresses, not names; the
drivers map their I/O names onto `ReadBlock`s (see `plan_reads`).
"""

from __future__ import annotations

import asyncio
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException
from pymodbus.pdu import ModbusPDU

from hal.config import LinkSettings, ModbusDeviceConfig
from hal.errors import DeviceError, LinkDown, ModbusExceptionReply, RequestTimeout
from hal.link import LinkSupervisor
from hal.modbus.wire import BIT_TABLES, MAX_READ_COUNT, Table

_POISONED_TID = 0xFFFF
"""pymodbus numbers its requests 1..65000: a frame re-labelled with this id never matches."""


@dataclass
class ModbusCounters:
    """What happened on a device's connections, across reconnects (diagnostics, tests)."""

    requests: int = 0
    timeouts: int = 0
    discarded_replies: int = 0
    exception_replies: int = 0
    connects: int = 0


@dataclass(frozen=True)
class ReadBlock:
    """One read request: a contiguous run of addresses of one table, and who lives there."""

    table: Table
    address: int
    count: int
    points: tuple[tuple[str, int], ...]
    """(name, offset in the block) of every point read by this request."""


def plan_reads(points: Mapping[str, tuple[Table, int]]) -> list[ReadBlock]:
    """The fewest read requests covering `points` (name -> (table, address)).

    Points at consecutive addresses of a table share a request; a gap starts a
    new one (a PLC may answer exception 02 for addresses it does not have), and
    so does the protocol's per-request limit.
    """
    by_table: dict[Table, dict[int, list[str]]] = {}
    for name, (table, address) in points.items():
        by_table.setdefault(table, {}).setdefault(address, []).append(name)
    blocks: list[ReadBlock] = []
    for table in sorted(by_table):
        addresses = sorted(by_table[table])
        run = [addresses[0]]
        for address in addresses[1:]:
            if address == run[-1] + 1 and len(run) < MAX_READ_COUNT[table]:
                run.append(address)
            else:
                blocks.append(_block(table, run, by_table[table]))
                run = [address]
        blocks.append(_block(table, run, by_table[table]))
    return blocks


def _block(table: Table, run: list[int], names: dict[int, list[str]]) -> ReadBlock:
    start = run[0]
    points = tuple((name, address - start) for address in run for name in names[address])
    return ReadBlock(table, start, len(run), points)


class ModbusConnection:
    """One connection attempt to a Modbus TCP server, one request at a time."""

    def __init__(
        self,
        device: str,
        host: str,
        port: int,
        device_id: int,
        settings: LinkSettings,
        counters: ModbusCounters,
    ) -> None:
        self.device = device
        self.host = host
        self.port = port
        self.device_id = device_id
        self.settings = settings
        self.counters = counters
        self._lock = asyncio.Lock()
        self._pending_tid: int | None = None
        # pymodbus applies its `timeout` to the connect and to each reply. Ours are
        # enforced outside it (asyncio.timeout), so its own must never fire first:
        # when it does, it counts towards closing the connection behind our back.
        inner_timeout = 2 * max(settings.connect_timeout_s, settings.request_timeout_s)
        self._client = AsyncModbusTcpClient(
            host,
            port=port,
            name=device,
            reconnect_delay=0,  # reconnecting is the LinkSupervisor's job, with a fresh client
            timeout=inner_timeout,
            retries=0,
            trace_packet=self._screen_frames,
            trace_pdu=self._note_request,
        )

    async def connect(self) -> None:
        """Open the TCP connection within `connect_timeout_s`; LinkDown if it fails."""
        self.counters.connects += 1
        where = f"{self.host}:{self.port}"
        cancels = _cancels()
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                connected = await self._client.connect()
                _raise_dropped_cancel(cancels)
        except TimeoutError:
            self._client.close()
            raise LinkDown(
                self.device, f"no connection to {where} within {self.settings.connect_timeout_s} s"
            ) from None
        if not connected:
            raise LinkDown(self.device, f"cannot connect to {where}")

    def close(self) -> None:
        self._client.close()

    @property
    def connected(self) -> bool:
        return self._client.connected

    async def read(self, table: Table, address: int, count: int) -> list[int]:
        """Read `count` values; bits come back as 0/1."""
        client, unit = self._client, self.device_id

        def request() -> Awaitable[ModbusPDU]:
            if table == "coil":
                return client.read_coils(address, count=count, device_id=unit)
            if table == "discrete_input":
                return client.read_discrete_inputs(address, count=count, device_id=unit)
            if table == "holding_register":
                return client.read_holding_registers(address, count=count, device_id=unit)
            return client.read_input_registers(address, count=count, device_id=unit)

        reply = await self._exchange("read", table, address, request)
        values = reply.bits[:count] if table in BIT_TABLES else reply.registers
        if len(values) != count:
            raise DeviceError(
                self.device,
                f"read of {count} from {table} {address} answered {len(values)} value(s)",
            )
        return [int(value) for value in values]

    async def write(self, table: Table, address: int, values: Sequence[int]) -> None:
        """Write coils (0/1) or holding registers starting at `address`."""
        client, unit = self._client, self.device_id
        if table not in ("coil", "holding_register"):
            raise ValueError(f"{self.device}: {table} is read only in Modbus")

        def request() -> Awaitable[ModbusPDU]:
            if table == "coil":
                bits = [bool(value) for value in values]
                if len(bits) == 1:
                    return client.write_coil(address, bits[0], device_id=unit)
                return client.write_coils(address, bits, device_id=unit)
            if len(values) == 1:
                return client.write_register(address, values[0], device_id=unit)
            return client.write_registers(address, list(values), device_id=unit)

        await self._exchange("write", table, address, request)

    async def _exchange(
        self, what: str, table: Table, address: int, request: Callable[[], Awaitable[ModbusPDU]]
    ) -> ModbusPDU:
        timeout = self.settings.request_timeout_s
        attempts = self.settings.retries + 1
        for _ in range(attempts):
            async with self._lock:
                if not self._client.connected:
                    raise LinkDown(self.device, f"connection to {self.host}:{self.port} lost")
                self.counters.requests += 1
                cancels = _cancels()
                try:
                    async with asyncio.timeout(timeout):
                        reply = await request()
                        _raise_dropped_cancel(cancels)
                except TimeoutError:
                    self.counters.timeouts += 1
                    continue
                except ConnectionException as exc:  # raised at call time when the peer has gone
                    raise LinkDown(self.device, f"connection lost: {exc}") from exc
                finally:
                    self._pending_tid = None
            if reply.isError():
                self.counters.exception_replies += 1
                raise ModbusExceptionReply(self.device, table, address, reply.exception_code)
            return reply
        raise RequestTimeout(
            self.device,
            f"no reply to {what} of {table} {address} within {timeout} s ({attempts} attempt(s))",
        )

    # --- reply screening (pymodbus trace hooks, called synchronously by its transport) ---

    def _note_request(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:
            self._pending_tid = pdu.transaction_id
        return pdu

    def _screen_frames(self, sending: bool, data: bytes) -> bytes:
        """Re-label every complete frame that is not the reply in flight, so that
        pymodbus skips it, and count it.

        pymodbus hands over its whole receive buffer. Its framer consumes frames
        from the front, skips those whose id differs, and stops at the first
        match, which it takes, leaving the rest for later: this walks the buffer
        the same way, so a frame is counted once. Two holes are closed here:
        pymodbus takes a reply with transaction id 0 for any request, and a late
        reply carrying the id of the last request when nothing is outstanding.
        """
        if sending:
            return data
        frames: bytearray | None = None
        offset = 0
        while offset + 8 <= len(data):
            tid, protocol, length = struct.unpack_from(">HHH", data, offset)
            end = offset + 6 + length
            if protocol != 0 or length < 2 or end > len(data):
                break  # not a frame, or not complete yet: the framer's business
            unit = data[offset + 6]
            if tid == self._pending_tid and (self.device_id == 0 or unit == self.device_id):
                break
            if frames is None:
                frames = bytearray(data)
            struct.pack_into(">H", frames, offset, _POISONED_TID)
            self.counters.discarded_replies += 1
            offset = end
        return data if frames is None else bytes(frames)


def _cancels() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _raise_dropped_cancel(cancels_before: int) -> None:
    """Re-raise a cancel that pymodbus' await dropped.

    pymodbus awaits replies and connects with `asyncio.wait_for`, which in
    Python 3.11 returns the result when a cancel lands in the same loop
    iteration as the result, and the cancel is lost (fixed in 3.12): a stop()
    would then wait forever for a poller that keeps polling. The task's count
    of pending cancel requests still shows it. Called inside the request's own
    timeout, so that a dropped cancel of that timeout becomes its TimeoutError.
    """
    if _cancels() > cancels_before:
        raise asyncio.CancelledError


def _wake_up(pause: asyncio.Future[None]) -> None:
    if not pause.done():
        pause.set_result(None)


class PolledModbusDevice(ABC):
    """Base of the Modbus drivers: one supervised link, polled at the device's interval."""

    def __init__(self, name: str, config: ModbusDeviceConfig) -> None:
        settings = config.link
        if config.poll_interval_ms / 1000 >= settings.stale_after_s:
            raise ValueError(
                f"{name}: poll_interval_ms ({config.poll_interval_ms}) must be below "
                f"link.stale_after_s ({settings.stale_after_s * 1000:g} ms), or every "
                "pause between two polls would mark the link stale"
            )
        self.name = name
        self.host = config.host
        self.port = config.port
        self.device_id = config.device_id
        self.settings = settings
        self.poll_interval_s = config.poll_interval_ms / 1000
        self.counters = ModbusCounters()
        self.last_error: DeviceError | None = None
        """The latest failed poll (a timeout or an exception reply), kept for alarms."""
        self.link = LinkSupervisor(name, settings, self._session)
        self._connection: ModbusConnection | None = None
        self._last_good = 0.0
        self._pause: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Start the link's supervisor; it connects and polls in the background."""
        self.link.start()

    async def stop(self) -> None:
        """Stop polling and close the connection."""
        await self.link.stop()

    @abstractmethod
    async def poll(self, connection: ModbusConnection) -> None:
        """Read what the driver needs through `connection` and take it in."""

    def connection(self) -> ModbusConnection:
        """The live connection; LinkDown at once while the link is down."""
        state = self.link.state
        if self._connection is None or not state.up:
            raise LinkDown(self.name, f"link down: {state.reason}")
        return self._connection

    async def _session(self, link: LinkSupervisor) -> None:
        connection = ModbusConnection(
            self.name, self.host, self.port, self.device_id, self.settings, self.counters
        )
        try:
            await connection.connect()
            await self.poll(connection)
            self._last_good = time.monotonic()
            self._connection = connection
            link.mark_up()
            await self._serve(connection)
        finally:
            self._connection = None
            connection.close()

    def poll_period(self) -> float:
        """Seconds between two polls: the configured interval (a driver may poll slower
        while nothing it drives moves; it then calls `wake()` when something does)."""
        return self.poll_interval_s

    def wake(self) -> None:
        """Poll now instead of at the end of the current pause."""
        if self._pause is not None and not self._pause.done():
            self._pause.set_result(None)

    async def _sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._pause = pause = loop.create_future()
        handle = loop.call_later(max(0.0, seconds), _wake_up, pause)
        try:
            await pause
        finally:
            handle.cancel()
            self._pause = None

    async def _serve(self, connection: ModbusConnection) -> None:
        """Poll at a fixed rate until no poll has succeeded for `stale_after_s`."""
        stale = self.settings.stale_after_s
        next_poll = time.monotonic()
        while True:
            next_poll += self.poll_period()
            try:
                async with asyncio.timeout(self._last_good + stale - time.monotonic()):
                    await self._sleep(next_poll - time.monotonic())
                    next_poll = min(next_poll, time.monotonic())  # woken early: count from now
                    await self.poll(connection)
            except TimeoutError:
                raise LinkDown(self.name, f"stale: no good poll for {stale} s") from None
            except RequestTimeout as exc:
                self.last_error = exc
            except ModbusExceptionReply as exc:
                self.last_error = exc
                if not exc.retryable:
                    raise  # 01-03: the request itself is wrong; polling it again is blind
            else:
                self._last_good = time.monotonic()
            next_poll = max(next_poll, time.monotonic() - self.poll_period())  # no burst
