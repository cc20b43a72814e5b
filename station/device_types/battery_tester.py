"""The battery qualification's tester: a traction-battery tester on Modbus TCP.

Driver `hal.modbus.battery_tester.ModbusBatteryTester`, simulator
`simulators.battery_tester.SimBatteryTester`; `measure` steps name it in their
quantities (`device:` and `register_name:`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from hal.config import ModbusBatteryTesterConfig
from hal.interfaces import Tester
from station.config.models import MeasureStep
from station.device_types.base import DeviceType, Problem

if TYPE_CHECKING:
    from simulators.battery_tester import SimBatteryTester
    from station.config.models import StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices


class BatteryTesterType(DeviceType[ModbusBatteryTesterConfig, "SimBatteryTester"]):
    word = "battery-tester"
    config = ModbusBatteryTesterConfig
    simulator_module = "simulators.battery_tester"

    def build(
        self,
        name: str,
        config: ModbusBatteryTesterConfig,
        station: StationFile,
        devices: DeviceSet,
    ) -> Tester:
        from hal.modbus.battery_tester import ModbusBatteryTester

        tester = ModbusBatteryTester(name, config)
        devices.testers[name] = tester
        return tester

    def check(
        self, name: str, config: ModbusBatteryTesterConfig, station: StationFile
    ) -> Iterator[Problem]:
        """No two points at one address; the registers the measure steps name exist."""
        from hal.modbus.wire import REGISTER_COUNT

        at = ("devices", name)
        owner: dict[tuple[str, int], str] = {}
        points: list[tuple[str, str, int, int]] = [
            ("start", config.start.table, config.start.address, 1)
        ]
        points.append(("ready", config.ready.table, config.ready.address, 1))
        for register_name, register in config.registers.items():
            count = REGISTER_COUNT[register.data_type]
            points.append((register_name, register.table, register.address, count))
        for point, table, address, count in points:
            path = (*at, point) if point in ("start", "ready") else (*at, "registers", point)
            for cell in range(address, address + count):
                if (table, cell) in owner:
                    yield (
                        (*path, "address"),
                        f"{table} {cell} is already used by {owner[table, cell]!r}",
                    )
                owner.setdefault((table, cell), point)
        for index, step in enumerate(station.cycle):
            if not isinstance(step, MeasureStep):
                continue
            for quantity_name, quantity in step.quantities.items():
                wanted = quantity.register_name
                if quantity.device == name and wanted and wanted not in config.registers:
                    known = ", ".join(config.registers)
                    yield (
                        ("cycle", index, "quantities", quantity_name, "register_name"),
                        f"no register {wanted!r} in device {name!r} (registers: {known})",
                    )

    def simulate(
        self, name: str, config: ModbusBatteryTesterConfig, sims: SimulatedDevices
    ) -> SimBatteryTester:
        from simulators.battery_tester import SimBatteryTester

        host, port = sims.listen(name)
        sim = SimBatteryTester(config, host, port, time_scale=sims.time_scale)
        sims.testers[name] = sim
        return sim

    def measure_values(self, sim: SimBatteryTester, values: Mapping[str, float]) -> None:
        sim.set_values(dict(values))

    async def inject(
        self,
        name: str,
        config: ModbusBatteryTesterConfig,
        sim: SimBatteryTester,
        fault: ScenarioFault,
    ) -> None:
        from simulators.battery_tester import DropMidMeasurement, NoReady, OutOfRange

        if fault.kind == "tester_no_ready":
            sim.inject(NoReady(fault.count))
        elif fault.kind == "tester_out_of_range":
            sim.inject(OutOfRange(fault.count))
        elif fault.kind == "tester_link_drop":
            sim.inject(DropMidMeasurement(fault.seconds))


BATTERY_TESTER = BatteryTesterType()
