"""The photo studio's turntable: a drive (VFD) on Modbus TCP.

Driver `hal.modbus.turntable.ModbusTurntable`, interlocked by the zone-clear
inputs its sweep steps name; simulator `simulators.turntable.SimTurntable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from hal.config import ModbusTurntableConfig
from hal.interfaces import Turntable, ZoneClear
from station.config.models import TurntableSweepStep
from station.device_types.base import DeviceType, Problem

if TYPE_CHECKING:
    from simulators.turntable import SimTurntable
    from station.config.models import StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices


def zone_interlock(station: StationFile, devices: DeviceSet, turntable: str) -> ZoneClear:
    """The zone-clear input the sweep steps name for this turntable (False while unknown)."""
    names = [
        step.zone_clear_input
        for step in station.cycle
        if isinstance(step, TurntableSweepStep) and step.turntable == turntable
    ]

    def zone_clear() -> bool:
        return bool(names) and all(devices.input_value(name) == 1 for name in names)

    return zone_clear


class TurntableType(DeviceType[ModbusTurntableConfig, "SimTurntable"]):
    word = "turntable"
    config = ModbusTurntableConfig
    simulator_module = "simulators.turntable"
    step_field = "turntable"

    def build(
        self, name: str, config: ModbusTurntableConfig, station: StationFile, devices: DeviceSet
    ) -> Turntable:
        from hal.modbus.turntable import ModbusTurntable

        table = ModbusTurntable(name, config, zone_interlock(station, devices, name))
        devices.turntables[name] = table
        return table

    def check(
        self, name: str, config: ModbusTurntableConfig, station: StationFile
    ) -> Iterator[Problem]:
        """No two drive registers at one address; an idle poll below the stale time."""
        if config.idle_poll_interval_ms / 1000 >= config.link.stale_after_s:
            yield (
                ("devices", name, "idle_poll_interval_ms"),
                f"must be below link.stale_after_s ({config.link.stale_after_s * 1000:g} ms)",
            )
        registers: dict[int, str] = {}
        for register, address in config.registers.model_dump().items():
            if address in registers:
                yield (
                    ("devices", name, "registers", register),
                    f"register {address} is already used by {registers[address]!r}",
                )
            registers.setdefault(address, register)

    def simulate(
        self, name: str, config: ModbusTurntableConfig, sims: SimulatedDevices
    ) -> SimTurntable:
        from simulators.turntable import SimTurntable

        host, port = sims.listen(name)
        sim = SimTurntable(config, host, port, time_scale=sims.time_scale)
        sims.turntables[name] = sim
        return sim

    async def inject(
        self, name: str, config: ModbusTurntableConfig, sim: SimTurntable, fault: ScenarioFault
    ) -> None:
        from simulators.turntable import Stall

        if fault.kind == "turntable_stall":
            sim.inject(Stall(fault.at_deg))


TURNTABLE = TurntableType()
