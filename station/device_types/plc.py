"""The station's PLC on Modbus TCP: I/O map, allow-listed outputs, reflexes.

Driver `hal.modbus.plc.ModbusPlc`, simulator `simulators.plc.SimPlc`. Built
first: the turntable's interlock reads a PLC input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hal.config import ModbusPlcConfig
from hal.interfaces import PlcIo
from station.device_types.base import DeviceType, Problem

if TYPE_CHECKING:
    from simulators.plc import SimPlc
    from station.config.models import StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices


class PlcType(DeviceType[ModbusPlcConfig, "SimPlc"]):
    word = "plc"
    config = ModbusPlcConfig
    simulator_module = "simulators.plc"
    builds_first = True

    def build(
        self, name: str, config: ModbusPlcConfig, station: StationFile, devices: DeviceSet
    ) -> PlcIo:
        from hal.modbus.plc import ModbusPlc

        plc = ModbusPlc(name, config)
        devices.plcs[name] = plc
        devices.add_io(plc, config.inputs, config.outputs)
        return plc

    def check(self, name: str, config: ModbusPlcConfig, station: StationFile) -> Iterator[Problem]:
        """No two names share an address; reflexes name points of their own PLC."""
        at = ("devices", name)
        owner: dict[tuple[str, int], str] = {}
        points = [("inputs", n, p.table, p.address) for n, p in config.inputs.items()]
        points += [("outputs", n, p.table, p.address) for n, p in config.outputs.items()]
        for group, point, table, address in points:
            key = (table, address)
            if key in owner:
                yield (
                    (*at, group, point, "address"),
                    f"{table} {address} is already used by {owner[key]!r}",
                )
            owner.setdefault(key, point)
        for index, reflex in enumerate(config.reflexes):
            if reflex.input not in config.inputs:
                yield ((*at, "reflexes", index, "input"), f"no input {reflex.input!r} in {name}")
            if reflex.output not in config.outputs:
                yield (
                    (*at, "reflexes", index, "output"),
                    f"no output {reflex.output!r} in {name}",
                )

    def simulate(self, name: str, config: ModbusPlcConfig, sims: SimulatedDevices) -> SimPlc:
        from simulators.plc import PlcBehaviour, SimPlc

        behaviour = dataclasses.replace(
            PlcBehaviour.for_config(config), arrival_delay_s=0.5, travel_s=3.0
        )
        host, port = sims.listen(name)
        sim = SimPlc(config, host, port, time_scale=sims.time_scale, behaviour=behaviour)
        sims.plcs[name] = sim
        scale = sims.time_scale  # the world is that much faster: so are its sensors' bounces
        inputs = {
            input_name: point.model_copy(update={"debounce_ms": round(point.debounce_ms * scale)})
            for input_name, point in config.inputs.items()
        }
        sims.override(name, {"inputs": inputs})
        return sim

    async def inject(
        self, name: str, config: ModbusPlcConfig, sim: SimPlc, fault: ScenarioFault
    ) -> None:
        from simulators.modbus_server import ExceptionReply, LinkDrop

        if fault.kind == "plc_link_drop":
            sim.inject(LinkDrop(fault.seconds))
        elif fault.kind == "modbus_exception":
            point = next(iter(config.inputs.values()))
            sim.inject(ExceptionReply(fault.code, point.table, point.address))


PLC = PlcType()
