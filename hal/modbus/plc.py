"""PLC I/O over Modbus TCP (`hal.interfaces.PlcIo`).

Design
------
- The poller (`hal.modbus.client.PolledModbusDevice`) polls the configured inputs at
  `poll_interval_ms`, in the fewest read requests (one per contiguous run of
  addresses of a table). The link is up only while polls succeed; no good
  poll within `link.stale_after_s` marks it down, and `value()` then raises
  `LinkDown` instead of returning an old value.
- Each input is debounced: a new raw value becomes the input's value once it
  has been read unchanged for `debounce_ms`; only then an `InputEdge` is
  published (its `at` is when the change was first read). A chattering
  photo-eye therefore gives one arrival.
- Reflexes (input -> output) are applied on every poll, right after the
  inputs are read, from the debounced value; an output is written only when
  its wanted value differs from what this session last wrote (and again after
  every reconnect).
- Only the configured outputs are ever written (the allow-list);
  `write()` reads the value back and raises `WriteNotVerified` when the PLC
  did not take it (the PLC may veto a request).

Boundary: the PLC's own safety functions and its output watchdog are not
here; `write_safe()` is the controller's request for the safe state.
"""

from __future__ import annotations

import collections
import time
from collections.abc import AsyncIterator

import structlog

from hal.changes import Changes
from hal.config import ModbusPlcConfig, OutputPoint, Reflex
from hal.errors import DeviceError, LinkDown, OutputNotAllowed, WriteNotVerified
from hal.interfaces import InputEdge
from hal.link import LinkState
from hal.modbus.client import ModbusConnection, PolledModbusDevice, plan_reads

log = structlog.get_logger(__name__)

EDGE_BACKLOG = 10_000
"""Edges an `edges()` consumer may fall behind before its stream fails (never silently)."""


def reflex_value(reflex: Reflex, output: OutputPoint, source: int) -> int:
    """The value a reflex writes to its output for input value `source`."""
    wanted = (0 if source else 1) if reflex.invert else source
    return (1 if wanted else 0) if output.table == "coil" else wanted


class _Debounced:
    """One input: its debounced value and the change waiting to become it."""

    def __init__(self, name: str, debounce_s: float) -> None:
        self.name = name
        self.debounce_s = debounce_s
        self.value: int | None = None
        self._candidate: int | None = None
        self._since = 0.0

    def sample(self, raw: int, now: float) -> InputEdge | None:
        """Take one raw reading; the edge when the debounced value changes."""
        if self.value is None:
            self.value = raw  # first reading after start: the state, not a change
            return None
        if raw == self.value:
            self._candidate = None
            return None
        if raw != self._candidate:
            self._candidate, self._since = raw, now
        if now - self._since < self.debounce_s:
            return None
        edge = InputEdge(self.name, raw, self.value, self._since)
        self.value, self._candidate = raw, None
        return edge


class EdgeStream:
    """The edges of one `edges()` call, from the call on, until the device stops."""

    def __init__(self, device: str) -> None:
        self._device = device
        self._queue: collections.deque[InputEdge] = collections.deque()
        self._changes = Changes()
        self._ended = False
        self._error: DeviceError | None = None

    def push(self, edge: InputEdge) -> bool:
        """Queue an edge; False once the stream has ended or failed (drop it then)."""
        if self._ended or self._error is not None:
            return False
        if len(self._queue) >= EDGE_BACKLOG:
            self._error = DeviceError(
                self._device, f"edge stream overflow: consumer {EDGE_BACKLOG} edges behind"
            )
            self._changes.notify()
            return False
        self._queue.append(edge)
        self._changes.notify()
        return True

    def end(self) -> None:
        self._ended = True
        self._changes.notify()

    def __aiter__(self) -> EdgeStream:
        return self

    async def __anext__(self) -> InputEdge:
        await self._changes.wait_until(
            lambda: bool(self._queue) or self._ended or self._error is not None, None
        )
        if self._error is not None:
            raise self._error
        if self._queue:
            return self._queue.popleft()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.end()


class ModbusPlc(PolledModbusDevice):
    """Named inputs and allow-listed outputs of a PLC on Modbus TCP."""

    def __init__(self, name: str, config: ModbusPlcConfig) -> None:
        super().__init__(name, config)
        self.config = config
        for reflex in config.reflexes:
            if reflex.input not in config.inputs or reflex.output not in config.outputs:
                raise ValueError(
                    f"{name}: reflex {reflex.input} -> {reflex.output} names an input or "
                    "output that is not in the I/O map"
                )
        self._blocks = plan_reads({n: (p.table, p.address) for n, p in config.inputs.items()})
        self._inputs = {n: _Debounced(n, p.debounce_ms / 1000) for n, p in config.inputs.items()}
        self._outputs: dict[str, int] = {}
        self._reflexes_written: dict[str, int] = {}
        self._reflexes_on: ModbusConnection | None = None
        self._streams: set[EdgeStream] = set()
        self._changes = Changes()
        self.link.on_change(self._on_link_change)

    async def stop(self) -> None:
        await super().stop()
        for stream in self._streams:
            stream.end()
        self._streams.clear()

    # --- inputs ------------------------------------------------------------------------

    def value(self, name: str) -> int:
        point = self._input(name)
        state = self.link.state
        if not state.up or point.value is None:
            raise LinkDown(self.name, f"input {name!r} unknown, link down: {state.reason}")
        return point.value

    def edges(self) -> AsyncIterator[InputEdge]:
        stream = EdgeStream(self.name)
        self._streams.add(stream)
        return stream

    async def wait_for(self, name: str, value: int, timeout: float | None) -> None:
        self._input(name)
        await self._changes.wait_until(lambda: self.value(name) == value, timeout)

    def _input(self, name: str) -> _Debounced:
        try:
            return self._inputs[name]
        except KeyError:
            known = ", ".join(self._inputs) or "none"
            raise KeyError(f"{self.name}: no input {name!r} (inputs: {known})") from None

    # --- outputs -----------------------------------------------------------------------

    async def write(self, name: str, value: int) -> None:
        point = self._output(name, value)
        connection = self.connection()
        await connection.write(point.table, point.address, [value])
        (read_back,) = await connection.read(point.table, point.address, 1)
        self._outputs[name] = read_back
        if read_back != value:
            raise WriteNotVerified(
                self.name,
                f"output {name!r} ({point.table} {point.address}): wrote {value}, "
                f"read back {read_back}",
            )

    def output(self, name: str) -> int | None:
        self._output(name, None)
        return self._outputs.get(name)

    async def write_safe(self) -> list[str]:
        failed = []
        for name, point in self.config.outputs.items():
            try:
                await self.write(name, point.safe)
            except DeviceError as exc:
                log.warning("safe_value_not_written", device=self.name, output=name, error=str(exc))
                failed.append(name)
        return failed

    def _output(self, name: str, value: int | None) -> OutputPoint:
        point = self.config.outputs.get(name)
        if point is None:
            allowed = ", ".join(self.config.outputs) or "none"
            raise OutputNotAllowed(
                self.name, f"output {name!r} is not in the allow-list (allowed: {allowed})"
            )
        top = 1 if point.table == "coil" else 65535
        if value is not None and not 0 <= value <= top:
            raise ValueError(
                f"{self.name}: output {name!r} ({point.table}) takes 0..{top}, not {value}"
            )
        return point

    # --- the poll ----------------------------------------------------------------------

    async def poll(self, connection: ModbusConnection) -> None:
        changed = False
        for block in self._blocks:
            values = await connection.read(block.table, block.address, block.count)
            now = time.monotonic()
            for name, offset in block.points:
                point = self._inputs[name]
                before = point.value
                edge = point.sample(values[offset], now)
                changed = changed or before != point.value
                if edge is not None:
                    self._publish(edge)
        if changed:
            self._changes.notify()
        await self._apply_reflexes(connection)

    def _publish(self, edge: InputEdge) -> None:
        for stream in list(self._streams):
            if not stream.push(edge):
                self._streams.discard(stream)

    async def _apply_reflexes(self, connection: ModbusConnection) -> None:
        if connection is not self._reflexes_on:  # a new session writes every reflex again
            self._reflexes_on = connection
            self._reflexes_written.clear()
        for reflex in self.config.reflexes:
            source = self._inputs[reflex.input].value
            if source is None:
                continue
            point = self.config.outputs[reflex.output]
            wanted = reflex_value(reflex, point, source)
            if self._reflexes_written.get(reflex.output) == wanted:
                continue
            await connection.write(point.table, point.address, [wanted])
            self._reflexes_written[reflex.output] = wanted
            self._outputs[reflex.output] = wanted

    def _on_link_change(self, state: LinkState) -> None:
        self._changes.notify()  # waiters re-check: value() raises LinkDown while down
