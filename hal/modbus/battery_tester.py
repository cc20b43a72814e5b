"""A traction-battery tester on Modbus TCP (`hal.interfaces.Tester`).

Design
------
- The poller (`PolledModbusDevice`) reads the ready bit at `poll_interval_ms`,
  always: it is also what detects a dead link (no good poll within
  `link.stale_after_s` marks it down). Timeouts and retries are the device's
  `link:` settings, never pymodbus' defaults.
- `measure()`: write 0 then the start value to the start point (every start is a
  fresh edge, whatever a crash left there), wait for a poll read after that write
  showing the ready bit (the tester clears it on every start, so an old ready is
  never taken for the new result), read the named value registers, write 0 again.
  No ready bit within the timeout: `MeasurementFailed`; the link lost meanwhile:
  `LinkDown` at once.
- A value is raw x `scale`, the raw value decoded after its `data_type` and
  `word_order` (`hal.modbus.wire.decode`). Whether it is plausible (its physical
  range) is the station's business, not the driver's.

The register map is the station file's (`ModbusBatteryTesterConfig`); the simulator
(`simulators.battery_tester`) serves the same map.
"""

from __future__ import annotations

from collections.abc import Sequence

from hal.changes import Changes
from hal.config import ModbusBatteryTesterConfig
from hal.errors import LinkDown, MeasurementFailed
from hal.modbus.client import ModbusConnection, PolledModbusDevice
from hal.modbus.wire import REGISTER_COUNT, decode


class ModbusBatteryTester(PolledModbusDevice):
    """A battery tester measuring on a start command, over Modbus TCP."""

    def __init__(self, name: str, config: ModbusBatteryTesterConfig) -> None:
        super().__init__(name, config)
        self.config = config
        self.ready: bool | None = None
        """The ready bit as last polled (None before the first poll)."""
        self._polls = 0
        self._starts = 0
        """Start commands written so far; a poll remembers how many preceded its read."""
        self._ready_after = 0
        self._changes = Changes()
        self.link.on_change(lambda state: self._changes.notify())

    async def poll(self, connection: ModbusConnection) -> None:
        starts = self._starts
        ready = self.config.ready
        (bit,) = await connection.read(ready.table, ready.address, 1)
        self.ready, self._ready_after = bool(bit), starts
        self._polls += 1
        self._changes.notify()

    async def measure(self, names: Sequence[str], timeout: float) -> dict[str, float]:
        unknown = [name for name in names if name not in self.config.registers]
        if unknown:
            raise KeyError(f"{self.name}: no register {', '.join(unknown)}")
        start = self.config.start
        await self.connection().write(start.table, start.address, [0])
        await self.connection().write(start.table, start.address, [start.value])
        self._starts += 1
        starts = self._starts

        def done() -> bool:
            if not self.link.state.up:
                raise LinkDown(self.name, f"link down mid-measurement: {self.link.state.reason}")
            return self._ready_after >= starts and bool(self.ready)

        try:
            await self._changes.wait_until(done, timeout)
        except TimeoutError:
            raise MeasurementFailed(
                self.name, f"no ready bit within {timeout:g} s of the start command"
            ) from None
        values = {name: await self._read_value(name) for name in names}
        await self.connection().write(start.table, start.address, [0])
        return values

    async def _read_value(self, name: str) -> float:
        register = self.config.registers[name]
        count = REGISTER_COUNT[register.data_type]
        raw = await self.connection().read(register.table, register.address, count)
        number = decode(raw, register.data_type, register.word_order == "high_first")
        return number * register.scale
