"""The Modbus TCP server both Modbus simulators (PLC, turntable drive) stand on.

Design
------
- The register image (`image[table][address] -> int`) is plain Python and is
  the simulator's truth; the device model changes it synchronously, from
  timers or from the requests it sees. A pymodbus 3.16 `ModbusTcpServer`
  serves it (`_Server`: each request served by a task created at once, not
  through pymodbus's thread-safe hand-over): the device is a `SimDevice` with four separate
  blocks (coil 0 and discrete input 0 are different points), and its `action`
  hook runs on every request. There the device model sees the request first
  (it may answer with an exception code, take a write into the image, or
  veto it), then the block is refreshed from the image and the values to be
  written are replaced by the image's, so a reply always shows the image as
  it is at that instant.
- Fault injection (`inject`): `ExceptionReply` is answered from the action
  hook. `LinkDrop` and `SlowReplies` act on the byte stream, in a relay in
  front of the server: clients connect to the relay (the port reported), which
  hands each client's bytes to a pymodbus request handler of the client's own,
  in process (the pymodbus server does not listen: a second loopback connection
  per client doubled every request's sends and wake-ups). The relay is needed
  because the pymodbus 3.16 server stamps each reply with the
  transaction id of the connection's latest request (it reads `last_pdu`
  after awaiting the datastore), so a reply delayed inside the hook would go
  out with the next request's id; and because it cannot refuse connections
  for a while and then listen again on the same port.

Boundary: no device behaviour here (see `simulators.plc`,
`simulators.turntable`); the only thing shared with the drivers is the wire
format (`hal.modbus.wire`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.transport import ModbusProtocol

from hal.modbus.wire import BIT_TABLES, Table

log = structlog.get_logger(__name__)

FUNCTION_TABLES: dict[int, Table] = {
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete_input",
    3: "holding_register",
    6: "holding_register",
    16: "holding_register",
    4: "input_register",
}
"""Function codes the pymodbus datastore serves, by the table they touch."""

_WRITE_CODES = frozenset((5, 6, 15, 16))

_TABLE_ORDER: tuple[Table, ...] = ("coil", "discrete_input", "holding_register", "input_register")
"""The order of the four blocks of a pymodbus `SimDevice`."""


@dataclass(frozen=True)
class LinkDrop:
    """Close every connection and refuse new ones for `seconds`, then listen again."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"LinkDrop.seconds must be > 0 (got {self.seconds})")


@dataclass(frozen=True)
class SlowReplies:
    """Deliver every reply `seconds` late, in order, until `clear_faults()`."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"SlowReplies.seconds must be >= 0 (got {self.seconds})")


@dataclass(frozen=True)
class ExceptionReply:
    """Answer every request touching `table` `address` with exception `code`, until
    `clear_faults()`."""

    code: int
    table: Table
    address: int

    def __post_init__(self) -> None:
        if self.code not in ExcCodes.__members__.values():
            known = ", ".join(f"{int(c):02d}" for c in ExcCodes)
            raise ValueError(f"ExceptionReply.code {self.code} is not a Modbus exception ({known})")


LinkFault = LinkDrop | SlowReplies | ExceptionReply

RequestHook = Callable[[Table, int, "list[int] | None"], "int | None"]
"""The device model's view of a request: (table, first address, values written or None
for a read) -> an exception code to answer with, or None to serve it."""


class ModbusSimServer:
    """A Modbus TCP server over a plain register image, with fault injection."""

    def __init__(
        self,
        name: str,
        device_id: int,
        layout: Mapping[Table, Iterable[int]],
        on_request: RequestHook,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.name = name
        self.device_id = device_id
        self.host = host
        self.port = port
        """The port clients connect to (the actual one once started)."""
        self.image: dict[Table, dict[int, int]] = {}
        self.requests: collections.Counter[tuple[str, Table, int]] = collections.Counter()
        """Requests served or refused, by ("read" | "write", table, first address)."""
        self._on_request = on_request
        self._device = SimDevice(
            id=device_id,
            simdata=self._blocks(layout),
            action=self._action,
        )
        self._server: _Server | None = None
        self._relay = _Relay(name)
        self._exceptions: list[ExceptionReply] = []

    def _blocks(
        self, layout: Mapping[Table, Iterable[int]]
    ) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        blocks: list[list[SimData]] = []
        for table in _TABLE_ORDER:
            addresses = sorted(set(layout.get(table, ())))
            if table in BIT_TABLES:
                # Whole 16-bit words from address 0: pymodbus keeps bits packed in words.
                words = addresses[-1] // 16 + 1 if addresses else 1
                blocks.append([SimData(0, count=16 * words, values=False, datatype=DataType.BITS)])
                if addresses:
                    self.image[table] = dict.fromkeys(range(16 * words), 0)
            elif addresses:
                blocks.append(
                    [SimData(a, values=0, datatype=DataType.REGISTERS) for a in addresses]
                )
                self.image[table] = dict.fromkeys(addresses, 0)
            else:
                blocks.append([SimData(0, datatype=DataType.INVALID)])
        return blocks[0], blocks[1], blocks[2], blocks[3]

    async def start(self) -> None:
        self._server = _Server(self._device, address=("127.0.0.1", 0))
        self._relay.server = self._server
        await self._relay.listen(self.host, self.port)
        self.port = self._relay.port

    async def stop(self) -> None:
        await self._relay.close()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    def endpoint_update(self) -> dict[str, Any]:
        """Fields to override in a device config to point its driver here."""
        return {"host": self.host, "port": self.port}

    def inject(self, fault: LinkFault) -> None:
        if isinstance(fault, ExceptionReply):
            if fault.table not in self.image:
                raise ValueError(f"{self.name}: no {fault.table} table on this device")
            self._exceptions.append(fault)
        elif isinstance(fault, SlowReplies):
            self._relay.delay_s = fault.seconds
        else:
            self._relay.drop(fault.seconds)
        log.info("sim_fault_injected", sim=self.name, fault=repr(fault))

    def clear_faults(self) -> None:
        """End every link fault now (a dropped link listens again at once)."""
        self._exceptions.clear()
        self._relay.delay_s = 0.0
        self._relay.end_drop()

    def store(self, table: Table, address: int, values: Iterable[int]) -> None:
        """Put values into the image from `address` on (what a served write does)."""
        cells = self.image[table]
        for offset, value in enumerate(values):
            cells[address + offset] = value

    async def _action(
        self,
        function_code: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        table = FUNCTION_TABLES[function_code]
        written = None if values is None else [int(v) for v in values]
        if table not in self.image:
            return ExcCodes.ILLEGAL_ADDRESS
        if written is None and function_code in _WRITE_CODES:
            # pymodbus reads the cells back to build a write's reply: not a request
            self._refresh(table, start, registers)
            return None
        self.requests["read" if written is None else "write", table, address] += 1
        if written is not None:
            span = len(written)
        elif table in BIT_TABLES:
            # pymodbus passes a bit read's count in 16-bit words: match on the words touched
            span = 16 * count - address % 16
        else:
            span = count
        for fault in self._exceptions:
            if fault.table == table and address <= fault.address < address + span:
                return ExcCodes(fault.code)
        code = self._on_request(table, address, written)
        if code:
            return ExcCodes(code)
        self._refresh(table, start, registers)
        cells = self.image[table]
        if values is not None:  # what gets stored is what the model took (a veto keeps the old)
            taken = [cells[address + i] for i in range(len(values))]
            values[:] = [bool(v) for v in taken] if table in BIT_TABLES else taken  # type: ignore[assignment]
        return None

    def _refresh(self, table: Table, start: int, registers: list[int]) -> None:
        """Copy the image of `table` into the pymodbus block (`start`: its first address)."""
        cells = self.image[table]
        if table in BIT_TABLES:
            for word in range(len(cells) // 16):
                registers[word] = sum(cells[16 * word + bit] << bit for bit in range(16))
        else:
            for cell, value in cells.items():
                registers[cell - start] = value


class ModbusSimulator:
    """Base of the Modbus simulators: what each shows of its `ModbusSimServer`."""

    _server: ModbusSimServer

    @property
    def port(self) -> int:
        """The port clients connect to (the actual one once started)."""
        return self._server.port

    @property
    def requests(self) -> collections.Counter[tuple[str, Table, int]]:
        """Requests seen, by ("read" | "write", table, first address)."""
        return self._server.requests

    def endpoint_update(self) -> dict[str, Any]:
        """Fields to override in the device's config to point its driver here."""
        return self._server.endpoint_update()

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def run_until_cancelled(self, kind: str) -> None:
        """Serve for a bench: start, say where on stdout, run until cancelled, stop."""
        await self.start()
        try:
            where = f"{self._server.host}:{self.port} (unit {self._server.device_id})"
            print(f"{kind} simulator listening on {where}", flush=True)
            await asyncio.Event().wait()
        finally:
            await self.stop()


def standalone_address(
    kind: str, listen: tuple[str, int] | None, pty: str | None
) -> tuple[str, int]:
    """Where a standalone Modbus simulator listens (any free port of 127.0.0.1 by default)."""
    if pty is not None:
        raise ValueError(
            f"the {kind} simulator speaks Modbus TCP: give --listen HOST:PORT, not --pty"
        )
    return listen or ("127.0.0.1", 0)


class _Server(ModbusTcpServer):
    """The pymodbus server of one simulator, not listening: the relay hands it each
    client. Each request is served by a task of the loop (`_Handler`)."""

    def callback_new_connection(self) -> ServerRequestHandler:
        return _Handler(self, self.trace_packet, self.trace_pdu, self.trace_connect)  # type: ignore[no-untyped-call]


class _Handler(ServerRequestHandler):
    """pymodbus's request handler of one client, whose request is served by a task
    created at once: pymodbus 3.16 goes through `run_coroutine_threadsafe` from the
    loop's own thread, a lock, a self-pipe wake-up and a loop turn more a request
    (a quarter of a request's CPU)."""

    def handle_later(self) -> None:
        task = self.loop.create_task(self.handle_request(), name="sim-modbus-request")  # type: ignore[no-untyped-call]
        _REQUESTS.add(task)
        task.add_done_callback(_REQUESTS.discard)


_REQUESTS: set[asyncio.Task[None]] = set()
"""The requests being served (a task is only weakly referenced by the loop)."""


class _Relay:
    """The simulator's listening port: relays each client to the pymodbus server, and
    drops, refuses or delays on injection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.server: _Server | None = None
        """The pymodbus server (not listening) whose request handlers serve the clients."""
        self.port = 0
        self.delay_s = 0.0
        self._host = ""
        self._listener: asyncio.Server | None = None
        self.clients: set[_ClientSide] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._restore: asyncio.Task[None] | None = None

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _ClientSide(self), host, port, reuse_address=True
        )
        self._host = host
        self.port = self._listener.sockets[0].getsockname()[1]

    def drop(self, seconds: float) -> None:
        if self._listener is not None:
            self._listener.close()  # new connections are refused from now on
            self._listener = None
        for client in list(self.clients):
            client.abort()
        if self._restore is not None:
            self._restore.cancel()
        self._restore = self.spawn(self._listen_after(seconds), f"{self.name}:link-drop")

    def end_drop(self) -> None:
        if self._restore is not None:
            self._restore.cancel()
            self._restore = None
            self.spawn(self.listen(self._host, self.port), f"{self.name}:relisten")

    async def _listen_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._restore = None
        await self.listen(self._host, self.port)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sim_relay_failed", sim=self.name, error=repr(task.exception()))

    def later(self, delay: float, deliver: Callable[[], None]) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            deliver()

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for client in list(self.clients):
            client.abort()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _ClientSide(asyncio.Protocol):
    """A client's connection to the simulator, served by a pymodbus request handler."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay
        self._transport: asyncio.Transport | None = None
        self._handler: ModbusProtocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        server = self._relay.server
        assert server is not None, "the relay listens once the server is made"
        self._transport = transport
        self._relay.clients.add(self)
        self._handler = server.handle_new_connection()
        self._handler.connection_made(_ServerSide(self))

    def data_received(self, data: bytes) -> None:
        if self._handler is not None:
            self._handler.data_received(data)

    def reply(self, data: bytes) -> None:
        if self._relay.delay_s > 0:
            self._relay.later(self._relay.delay_s, lambda: self._send(data))
        else:
            self._send(data)

    def _send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay.clients.discard(self)
        handler, self._handler = self._handler, None
        if handler is not None:
            handler.connection_lost(exc)


class _ServerSide(asyncio.Transport):
    """The transport a client's pymodbus request handler writes its replies to."""

    def __init__(self, client: _ClientSide) -> None:
        super().__init__()
        self._client = client
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing:
            self._client.reply(bytes(data))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._client.abort()

    def abort(self) -> None:
        self.close()
