"""A traction-battery tester simulator: the register map of a
`ModbusBatteryTesterConfig` over Modbus TCP.

Behaviour: the start point going to its start value (an edge: from another value)
clears the ready bit; `measure_s` later (times `time_scale`) the value registers
hold the values given (`set_values`, engineering units, encoded after each
register's scale and data type) and the ready bit is set. Writes anywhere else are
refused (exception 02).

Faults (each for the next `count` measurements, or once): `NoReady(count)`: the
ready bit never comes; `OutOfRange(count)`: every value register reads its type's
largest raw value (a tester reporting garbage); `DropMidMeasurement(seconds)`:
the next start drops the link for `seconds` before any result. Link faults as in
`simulators.modbus_server`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hal.config import ModbusBatteryTesterConfig
from hal.modbus.wire import REGISTER_COUNT, Table, encode
from simulators.modbus_server import (
    ExceptionReply,
    LinkDrop,
    ModbusSimServer,
    ModbusSimulator,
    SlowReplies,
    standalone_address,
)

__all__ = [
    "DropMidMeasurement",
    "ExceptionReply",
    "LinkDrop",
    "NoReady",
    "OutOfRange",
    "SimBatteryTester",
    "SlowReplies",
    "run_standalone",
]

_ILLEGAL_ADDRESS = 2

_LARGEST: dict[str, float] = {
    "uint16": 0xFFFF,
    "int16": 0x7FFF,
    "uint32": 0xFFFFFFFF,
    "int32": 0x7FFFFFFF,
}
"""What an out-of-range fault shows in a register of each type (a float32: infinity)."""


@dataclass(frozen=True)
class NoReady:
    """The next `count` measurements never set the ready bit."""

    count: int = 1


@dataclass(frozen=True)
class OutOfRange:
    """The next `count` measurements read the largest raw value in every register."""

    count: int = 1


@dataclass(frozen=True)
class DropMidMeasurement:
    """The next start drops the link for `seconds`, before any result."""

    seconds: float


TesterFault = NoReady | OutOfRange | DropMidMeasurement | LinkDrop | SlowReplies | ExceptionReply


class SimBatteryTester(ModbusSimulator):
    """A simulated battery tester speaking Modbus TCP."""

    def __init__(
        self,
        config: ModbusBatteryTesterConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        *,
        measure_s: float = 5.0,
    ) -> None:
        self.config = config
        self.measure_s = measure_s * time_scale
        """Time from a start to its results (real seconds)."""
        self.values: dict[str, float] = {}
        """Engineering values the next measurement gives, by register name (0 if absent)."""
        self.starts = 0
        """Start commands taken (a test counts the measurements with it)."""
        self._no_ready = 0
        self._out_of_range = 0
        self._drop_s: float | None = None
        self._pending: asyncio.TimerHandle | None = None
        layout: dict[Table, set[int]] = {}
        for point in (config.start, config.ready):
            layout.setdefault(point.table, set()).add(point.address)
        for register in config.registers.values():
            count = REGISTER_COUNT[register.data_type]
            cells = range(register.address, register.address + count)
            layout.setdefault(register.table, set()).update(cells)
        self._server = ModbusSimServer(
            "sim-battery-tester", config.device_id, layout, self._on_request, host=host, port=port
        )

    def set_values(self, values: dict[str, float]) -> None:
        """What the next measurements give (engineering units, by register name)."""
        self.values = dict(values)

    def inject(self, fault: TesterFault) -> None:
        if isinstance(fault, NoReady):
            self._no_ready += fault.count
        elif isinstance(fault, OutOfRange):
            self._out_of_range += fault.count
        elif isinstance(fault, DropMidMeasurement):
            self._drop_s = fault.seconds
        else:
            self._server.inject(fault)

    def clear_faults(self) -> None:
        self._no_ready = self._out_of_range = 0
        self._drop_s = None
        self._server.clear_faults()

    @property
    def ready(self) -> bool:
        ready = self.config.ready
        return bool(self._server.image[ready.table][ready.address])

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        await super().stop()

    def _on_request(self, table: Table, address: int, values: list[int] | None) -> int | None:
        if values is None:
            return None
        start = self.config.start
        if (table, address, len(values)) != (start.table, start.address, 1):
            return _ILLEGAL_ADDRESS  # only the start point is writable
        before = self._server.image[table][address]
        self._server.store(table, address, values)
        if values[0] == start.value and before != start.value:
            self._started()
        return None

    def _started(self) -> None:
        self.starts += 1
        ready = self.config.ready
        self._server.store(ready.table, ready.address, [0])
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._drop_s is not None:
            seconds, self._drop_s = self._drop_s, None
            self._server.inject(LinkDrop(seconds))
            return
        if self._no_ready:
            self._no_ready -= 1
            return
        garbage = self._out_of_range > 0
        self._out_of_range -= 1 if garbage else 0
        loop = asyncio.get_running_loop()
        self._pending = loop.call_later(self.measure_s, self._results, garbage)

    def _results(self, garbage: bool) -> None:
        self._pending = None
        for name, register in self.config.registers.items():
            if garbage:
                value = _LARGEST.get(register.data_type, float("inf"))
            else:
                value = self.values.get(name, 0.0) / register.scale
            raw = encode(value, register.data_type, register.word_order == "high_first")
            self._server.store(register.table, register.address, raw)
        ready = self.config.ready
        self._server.store(ready.table, ready.address, [1])


async def run_standalone(
    config: ModbusBatteryTesterConfig,
    listen: tuple[str, int] | None = None,
    pty: str | None = None,
) -> None:
    """Serve the tester for a bench until cancelled (values 0 until set)."""
    host, port = standalone_address("battery tester", listen, pty)
    await SimBatteryTester(config, host, port).run_until_cancelled("battery tester")
