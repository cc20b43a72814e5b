"""The station's devices: built from the config through the driver registry,
connected all in parallel, every failure reported in one tree.

The station only ever sees the `hal.interfaces` protocols. Which driver
serves a device is the `driver:` key of its section (STYLE.md item 3).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hal.config import (
    BalluffRfidConfig,
    KeyenceBarcodeConfig,
    ModbusPlcConfig,
    ModbusTurntableConfig,
    OpcUaDeviceConfig,
)
from hal.errors import LinkDown
from hal.interfaces import CodeReader, Device, OpcUaDevice, PlcIo, TagReader, Turntable
from hal.registry import driver_class
from station.config.models import StationFile, TurntableSweepStep


class NotConnected(Exception):
    """Devices that did not connect in time, one indented line each (STYLE.md item 6)."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        lines = "\n".join(f"  {name}: {reason}" for name, reason in sorted(failures.items()))
        super().__init__(f"{len(failures)} device(s) not connected:\n{lines}")


@dataclass
class DeviceSet:
    """Every device of a station, by name and by kind."""

    all: dict[str, Device] = field(default_factory=dict)
    plcs: dict[str, PlcIo] = field(default_factory=dict)
    turntables: dict[str, Turntable] = field(default_factory=dict)
    barcodes: dict[str, CodeReader] = field(default_factory=dict)
    rfids: dict[str, TagReader] = field(default_factory=dict)
    opcua: dict[str, OpcUaDevice] = field(default_factory=dict)
    _inputs: dict[str, PlcIo] = field(default_factory=dict)
    _outputs: dict[str, PlcIo] = field(default_factory=dict)

    def plc_with_input(self, name: str) -> PlcIo:
        return self._inputs[name]

    def plc_with_output(self, name: str) -> PlcIo:
        return self._outputs[name]

    def input_names(self) -> list[str]:
        return list(self._inputs)

    def output_names(self) -> list[str]:
        return list(self._outputs)

    def input_value(self, name: str) -> int | None:
        """Current value of an input, None while its PLC link is down."""
        try:
            return self._inputs[name].value(name)
        except LinkDown:
            return None

    def down(self) -> dict[str, str]:
        """Devices whose link is down, with the reason."""
        return {n: d.link.state.reason for n, d in self.all.items() if not d.link.state.up}

    async def start(self) -> None:
        await asyncio.gather(*(device.start() for device in self.all.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(device.stop() for device in self.all.values()))

    async def wait_connected(self, timeout: float) -> None:
        """Wait for every link, in parallel; NotConnected names each one still down."""

        async def one(device: Device) -> None:
            await device.link.wait_up(timeout)

        results = await asyncio.gather(*(one(d) for d in self.all.values()), return_exceptions=True)
        failures = {
            name: self.all[name].link.state.reason
            for name, result in zip(self.all, results, strict=True)
            if isinstance(result, BaseException)
        }
        if failures:
            raise NotConnected(failures)


def _zone_interlock(station: StationFile, devices: DeviceSet, turntable: str) -> Any:
    """The zone-clear input the sweep steps name for this turntable (False while unknown)."""
    names = [
        step.zone_clear_input
        for step in station.cycle
        if isinstance(step, TurntableSweepStep) and step.turntable == turntable
    ]

    def zone_clear() -> bool:
        return bool(names) and all(devices.input_value(name) == 1 for name in names)

    return zone_clear


def build_devices(station: StationFile) -> DeviceSet:
    """Instantiate the driver of every device section (nothing connects yet)."""
    devices = DeviceSet()
    for name, config in station.devices.items():
        cls = driver_class(config.driver)
        if isinstance(config, ModbusPlcConfig):
            plc: PlcIo = cls(name, config)
            devices.plcs[name] = plc
            devices._inputs.update(dict.fromkeys(config.inputs, plc))
            devices._outputs.update(dict.fromkeys(config.outputs, plc))
            devices.all[name] = plc
    for name, config in station.devices.items():
        cls = driver_class(config.driver)
        device: Device
        if isinstance(config, ModbusTurntableConfig):
            table = cls(name, config, _zone_interlock(station, devices, name))
            devices.turntables[name] = table
            device = table
        elif isinstance(config, KeyenceBarcodeConfig):
            device = devices.barcodes.setdefault(name, cls(name, config))
        elif isinstance(config, BalluffRfidConfig):
            device = devices.rfids.setdefault(name, cls(name, config))
        elif isinstance(config, OpcUaDeviceConfig):
            device = devices.opcua.setdefault(name, cls(name, config))
        else:
            continue
        devices.all[name] = device
    return devices
