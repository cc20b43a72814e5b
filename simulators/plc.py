"""A station PLC simulator: the I/O image of a `ModbusPlcConfig` over Modbus TCP,
with the physical behaviour of a station around it.

Behaviour (by role; `PlcBehaviour` maps each role to an I/O name, None turns
it off; every time is multiplied by `time_scale`):
- `arrive()`: `vehicle_present` becomes 1 after `arrival_delay_s`, optionally
  after `chatter` fast toggles (a photo-eye on a reflective body).
- The entry gate output opening: `entry_gate_closed` drops at once (it rises
  again `gate_s` after the gate output closes); a vehicle waiting at the entry
  drives onto the table: `zone_clear` is 0 while it moves, and after
  `travel_s` `vehicle_in_position` and `zone_clear` are 1.
- The exit gate output opening: `exit_gate_closed` follows the same way; the
  vehicle drives off (`zone_clear` 0), and after `travel_s`
  `vehicle_present` and `vehicle_in_position` are 0, `zone_clear` is 1 and
  every `on_departed` callback runs.
- The `healthy` inputs (light curtain, E-stop relay) read 1 from power-up.

Tests and benches act only through methods (`arrive`, `set_input`,
`inject`) and observe through `input`, `output`, `writes` and `wait_output`;
`writes` holds every output write the PLC took, with its monotonic time
(taken in the server's request hook, i.e. when the write reached the PLC).

Faults: `LinkDrop`, `SlowReplies`, `ExceptionReply` (see
`simulators.modbus_server`) and `Veto(output)`: the PLC keeps the output as
it is and answers the write normally, as a PLC vetoing a request does.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from hal.changes import Changes
from hal.config import ModbusPlcConfig
from hal.modbus.wire import BIT_TABLES, Table
from simulators.modbus_server import (
    ExceptionReply,
    LinkDrop,
    ModbusSimServer,
    ModbusSimulator,
    SlowReplies,
    standalone_address,
)

__all__ = [
    "ExceptionReply",
    "LinkDrop",
    "OutputWrite",
    "PlcBehaviour",
    "SimPlc",
    "SlowReplies",
    "Veto",
    "run_standalone",
]

WRITES_KEPT = 10_000
"""Output writes kept in `SimPlc.writes` (the oldest go first)."""


@dataclass(frozen=True)
class Veto:
    """The PLC refuses to change `output`: writes are answered but not taken."""

    output: str


PlcFault = LinkDrop | SlowReplies | ExceptionReply | Veto


@dataclass(frozen=True)
class OutputWrite:
    """An output write the simulated PLC took."""

    at: float
    """Monotonic time the write reached the PLC."""
    name: str
    value: int


@dataclass(frozen=True)
class PlcBehaviour:
    """Which I/O names play which role in the station's physics, and its timing."""

    vehicle_present: str | None = "vehicle_present"
    vehicle_in_position: str | None = "vehicle_in_position"
    zone_clear: str | None = "zone_clear"
    entry_gate_closed: str | None = "entry_gate_closed"
    exit_gate_closed: str | None = "exit_gate_closed"
    entry_gate_open: str | None = "entry_gate_open"
    exit_gate_open: str | None = "exit_gate_open"
    healthy: tuple[str, ...] = ("light_curtain_ok", "estop_ok")
    """Inputs that read 1 from power-up."""
    arrival_delay_s: float = 1.0
    travel_s: float = 3.0
    """Time a vehicle takes to drive onto or off the table."""
    gate_s: float = 0.5
    """Time a gate takes to close."""
    chatter: int = 0
    """Toggles of vehicle_present before it settles at 1."""
    chatter_period_s: float = 0.01

    INPUT_ROLES: ClassVar = (
        "vehicle_present",
        "vehicle_in_position",
        "zone_clear",
        "entry_gate_closed",
        "exit_gate_closed",
    )
    OUTPUT_ROLES: ClassVar = ("entry_gate_open", "exit_gate_open")

    @classmethod
    def for_config(cls, config: ModbusPlcConfig) -> PlcBehaviour:
        """The conventional names, each role off when its name is not in the I/O map."""
        default = cls()
        absent: dict[str, Any] = {
            role: None for role in cls.INPUT_ROLES if getattr(default, role) not in config.inputs
        }
        absent |= {
            role: None for role in cls.OUTPUT_ROLES if getattr(default, role) not in config.outputs
        }
        healthy = tuple(name for name in default.healthy if name in config.inputs)
        return replace(default, healthy=healthy, **absent)

    def check(self, config: ModbusPlcConfig) -> None:
        """ValueError naming every role whose name is not in the I/O map."""
        named = [(role, getattr(self, role), "input") for role in self.INPUT_ROLES]
        named += [("healthy", name, "input") for name in self.healthy]
        named += [(role, getattr(self, role), "output") for role in self.OUTPUT_ROLES]
        problems = []
        for role, name, group in named:
            known = config.inputs if group == "input" else config.outputs
            if name is not None and name not in known:
                problems.append(f"{role}: no {group} {name!r} (has: {', '.join(known)})")
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name.endswith("_s") and value < 0:
                problems.append(f"{spec.name} must be >= 0 (got {value})")
        if problems:
            raise ValueError("PLC behaviour does not fit the I/O map: " + "; ".join(problems))


class SimPlc(ModbusSimulator):
    """A simulated station PLC speaking Modbus TCP."""

    def __init__(
        self,
        config: ModbusPlcConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        behaviour: PlcBehaviour | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0 (got {time_scale})")
        if behaviour is None:
            behaviour = PlcBehaviour.for_config(config)
        else:
            behaviour.check(config)
        self.config = config
        self.behaviour = behaviour
        self.time_scale = time_scale
        self.writes: collections.deque[OutputWrite] = collections.deque(maxlen=WRITES_KEPT)
        self.on_departed: list[Callable[[], None]] = []
        """Called each time a vehicle has left through the exit gate."""
        layout: dict[Table, set[int]] = {}
        self._outputs_at: dict[tuple[Table, int], list[str]] = {}
        for point in config.inputs.values():
            layout.setdefault(point.table, set()).add(point.address)
        for name, output in config.outputs.items():
            layout.setdefault(output.table, set()).add(output.address)
            self._outputs_at.setdefault((output.table, output.address), []).append(name)
        self._server = ModbusSimServer(
            "sim-plc", config.device_id, layout, self._on_request, host=host, port=port
        )
        self._vetoed: set[str] = set()
        self._last_write: dict[str, OutputWrite] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._changes = Changes()
        at_rest: tuple[str | None, ...] = (
            *behaviour.healthy,
            behaviour.zone_clear,
            behaviour.entry_gate_closed,
            behaviour.exit_gate_closed,
        )
        for input_name in at_rest:  # power-up: healthy, nobody on the table, gates shut
            if input_name is not None:
                self.set_input(input_name, 1)

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await super().stop()

    def inject(self, fault: PlcFault) -> None:
        if isinstance(fault, Veto):
            self._point(fault.output, self.config.outputs, "output")
            self._vetoed.add(fault.output)
        else:
            self._server.inject(fault)

    def clear_faults(self) -> None:
        self._vetoed.clear()
        self._server.clear_faults()

    # --- the I/O image -------------------------------------------------------------------

    def set_input(self, name: str, value: int) -> None:
        point = self._point(name, self.config.inputs, "input")
        top = 1 if point.table in BIT_TABLES else 65535
        if not 0 <= value <= top:
            raise ValueError(f"input {name!r} ({point.table}) takes 0..{top}, not {value}")
        self._server.store(point.table, point.address, [value])

    def input(self, name: str) -> int:
        point = self._point(name, self.config.inputs, "input")
        return self._server.image[point.table][point.address]

    def output(self, name: str) -> int:
        point = self._point(name, self.config.outputs, "output")
        return self._server.image[point.table][point.address]

    async def wait_output(self, name: str, value: int, timeout: float | None) -> OutputWrite | None:
        """Wait until output `name` reads `value`; the write that made it so (None if it
        held that value from power-up). TimeoutError after `timeout` seconds."""
        await self._changes.wait_until(lambda: self.output(name) == value, timeout)
        return self._last_write.get(name)

    @staticmethod
    def _point(name: str, points: dict[str, Any], group: str) -> Any:
        if name not in points:
            raise KeyError(f"simulated PLC has no {group} {name!r} (has: {', '.join(points)})")
        return points[name]

    def _on_request(self, table: Table, address: int, values: list[int] | None) -> int | None:
        if values is None:
            return None
        now = time.monotonic()
        for offset, value in enumerate(values):
            names = self._outputs_at.get((table, address + offset), [])
            if any(name in self._vetoed for name in names):
                continue
            previous = self._server.image[table][address + offset]
            self._server.store(table, address + offset, [value])
            for name in names:
                write = OutputWrite(now, name, value)
                self.writes.append(write)
                self._last_write[name] = write
                self._react(name, value, previous)
        self._changes.notify()
        return None

    # --- behaviour -----------------------------------------------------------------------

    def arrive(self, chatter: int | None = None) -> None:
        """A vehicle reaches the entry: vehicle_present after the arrival delay."""
        present = self.behaviour.vehicle_present
        if present is None:
            raise ValueError("arrive() needs the vehicle_present role")
        toggles = self.behaviour.chatter if chatter is None else chatter
        period = self.behaviour.chatter_period_s
        delay = self.behaviour.arrival_delay_s
        for index in range(2 * toggles):
            self._later(f"chatter{index}", delay + index * period, {present: 1 - index % 2})
        self._later("arrival", delay + 2 * toggles * period, {present: 1})

    def _react(self, output: str, value: int, previous: int) -> None:
        b = self.behaviour
        for gate, closed, onto_table in (
            (b.entry_gate_open, b.entry_gate_closed, True),
            (b.exit_gate_open, b.exit_gate_closed, False),
        ):
            if output != gate:
                continue
            if closed is not None:
                self._later(closed, 0.0 if value else b.gate_s, {closed: 0 if value else 1})
            if value and not previous:
                self._vehicle_moves(onto_table)

    def _vehicle_moves(self, onto_table: bool) -> None:
        b = self.behaviour
        present = b.vehicle_present is not None and self.input(b.vehicle_present) == 1
        placed = b.vehicle_in_position is not None and self.input(b.vehicle_in_position) == 1
        if not present or placed == onto_table:
            return  # no vehicle waiting at that gate
        self._later("zone", 0.0, {b.zone_clear: 0})
        if onto_table:
            self._later("travel", b.travel_s, {b.vehicle_in_position: 1, b.zone_clear: 1})
        else:
            gone = {b.vehicle_present: 0, b.vehicle_in_position: 0, b.zone_clear: 1}
            self._later("travel", b.travel_s, gone, departed=True)

    def _later(
        self, key: str, delay_s: float, inputs: dict[str | None, int], departed: bool = False
    ) -> None:
        """After `delay_s` (physical, scaled) set `inputs` (None names are roles turned
        off); one pending timer per key, a new one replaces it."""

        def fire() -> None:
            self._timers.pop(key, None)
            for name, value in inputs.items():
                if name is not None:
                    self.set_input(name, value)
            if departed:
                for callback in self.on_departed:
                    callback()

        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay_s * self.time_scale, fire)


async def run_standalone(
    config: ModbusPlcConfig, listen: tuple[str, int] | None = None, pty: str | None = None
) -> None:
    """Serve the PLC for a bench until cancelled: a vehicle arrives at power-up and
    again each time one has left."""
    host, port = standalone_address("plc", listen, pty)
    sim = SimPlc(config, host, port)
    sim.on_departed.append(sim.arrive)
    sim.arrive()
    await sim.run_until_cancelled("plc")
