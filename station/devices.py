"""The station's devices: built from the config through the device-type
registry (`station.device_types`), connected all in parallel, every failure
reported in one tree.

The station only ever sees the `hal.interfaces` protocols. Which driver
serves a device is the `driver:` key of its section (docs/style.md item 3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from hal.errors import LinkDown
from hal.interfaces import (
    CameraSystem,
    CodeReader,
    Device,
    OpcUaDevice,
    PlcIo,
    TagReader,
    Tester,
    Turntable,
)
from station.config.models import StationFile
from station.device_types import device_type


class NotConnected(Exception):
    """Devices that did not connect in time, one indented line each (docs/style.md item 6)."""

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
    cameras: dict[str, CameraSystem] = field(default_factory=dict)
    barcodes: dict[str, CodeReader] = field(default_factory=dict)
    rfids: dict[str, TagReader] = field(default_factory=dict)
    opcua: dict[str, OpcUaDevice] = field(default_factory=dict)
    testers: dict[str, Tester] = field(default_factory=dict)
    _inputs: dict[str, PlcIo] = field(default_factory=dict)
    _outputs: dict[str, PlcIo] = field(default_factory=dict)

    def add_io(self, plc: PlcIo, inputs: Iterable[str], outputs: Iterable[str]) -> None:
        """The inputs and outputs `plc` serves, found by name from now on."""
        self._inputs.update(dict.fromkeys(inputs, plc))
        self._outputs.update(dict.fromkeys(outputs, plc))

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


def build_devices(station: StationFile) -> DeviceSet:
    """Instantiate the driver of every device section (nothing connects yet); the
    types built first (the PLCs) come first in `all`."""
    devices = DeviceSet()
    sections = sorted(
        station.devices.items(), key=lambda item: not device_type(item[1].driver).builds_first
    )
    for name, config in sections:
        devices.all[name] = device_type(config.driver).build(name, config, station, devices)
    return devices
