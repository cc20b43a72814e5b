"""In-process simulators for every device of one station.

Each device section of the station file gets the simulator its device type
declares (`station.device_types`), serving the real protocol on loopback
(Modbus TCP, a pty for the barcode reader, TCP for the RFID head, OPC UA for
the inspection system). The station's config is then patched to point each
driver at its simulator, so the runtime runs the same drivers and the same
code as on a real line. What the world does to the devices (a vehicle
presented, verdicts planned, a scenario fault) goes to every simulator,
through its device type.

On a bench (`station sim world`) the simulators serve on real ports instead
(`Serving`: a host, a port per device or any free one), the serial readers
over TCP as through a serial-to-Ethernet adapter, so that a station on
another machine reaches them.

Tag memory lives in a `TagStore` shared by all the stations of a simulated
line (what one station writes, the next one reads); with a state folder it
is kept on disk too, so that a station killed and restarted finds its tags
as a real tag keeps its memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simulators.barcode import SimBarcode
from simulators.battery_tester import SimBatteryTester
from simulators.cameras import SimCameraSystem
from simulators.inspection import SimInspection
from simulators.plc import SimPlc
from simulators.rfid import SimRfid, TagStore
from simulators.turntable import SimTurntable
from station.config.loader import LoadedStation
from station.config.models import InspectStep, MeasureStep
from station.device_types import device_type
from station.device_types.base import DeviceType
from station.devices import DeviceSet, build_devices
from station.scenario import ScenarioFault, ScenarioFinding


class PersistentTagStore(TagStore):
    """A TagStore that also keeps every tag in a JSON file (written atomically)."""

    def __init__(self, path: Path, capacity: int = 112) -> None:
        super().__init__(capacity)
        self.path = path
        if path.exists():
            for uid, data in json.loads(path.read_text()).items():
                super().write(uid, 0, bytes.fromhex(data))

    def write(self, uid: str, address: int, data: bytes) -> None:
        super().write(uid, address, data)
        snapshot = {u: self.memory(u).hex() for u in self.uids()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot))
        os.replace(tmp, self.path)


@dataclasses.dataclass(frozen=True)
class Serving:
    """Where a bench's simulators listen: on `host`, each on `ports[device name]` or a
    port the OS chooses, the serial readers over TCP too."""

    host: str = "127.0.0.1"
    ports: Mapping[str, int] = dataclasses.field(default_factory=dict)


Simulator = SimPlc | SimTurntable | SimInspection | SimRfid | Any


class SimulatedDevices:
    """The simulators of one station and the config that points at them."""

    def __init__(
        self,
        loaded: LoadedStation,
        *,
        time_scale: float = 1.0,
        tags: TagStore | None = None,
        state_dir: Path | None = None,
        inspection_delay_s: float = 2.0,
        serving: Serving | None = None,
    ) -> None:
        self.loaded = loaded
        self.serving = serving
        """Real ports for a bench (None: loopback, free ports, serial readers on ptys)."""
        self.time_scale = time_scale
        self.state_dir = state_dir
        if tags is None:
            tags = PersistentTagStore(state_dir / "sim-tags.json") if state_dir else TagStore()
        self.tags = tags
        self.inspection_delay_s = inspection_delay_s
        """Time the inspection simulator takes to give a verdict (before `time_scale`)."""
        self.plcs: dict[str, SimPlc] = {}
        self.turntables: dict[str, SimTurntable] = {}
        self.cameras: dict[str, SimCameraSystem] = {}
        self.barcodes: dict[str, SimBarcode] = {}
        self.rfids: dict[str, SimRfid] = {}
        self.inspections: dict[str, SimInspection] = {}
        self.testers: dict[str, SimBatteryTester] = {}
        self._all: dict[str, Simulator] = {}
        self._updates: dict[str, dict[str, Any]] = {}

    @property
    def all(self) -> dict[str, Simulator]:
        """Every simulator, by device name, in the station file's order."""
        return dict(self._all)

    def listen(self, name: str) -> tuple[str, int]:
        """Where device `name`'s simulator listens: (host, port), port 0 for any free one."""
        if self.serving is None:
            return "127.0.0.1", 0
        return self.serving.host, self.serving.ports.get(name, 0)

    @property
    def pki_dir(self) -> Path:
        """Where certificates made for this run go (one folder per device)."""
        return (self.state_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / "sim-pki"

    def override(self, name: str, fields: dict[str, Any]) -> None:
        """Fields of device `name`'s config to replace when the station is pointed here."""
        self._updates[name] = {**self._updates.get(name, {}), **fields}

    async def start(self) -> None:
        """Create and start every simulator (in parallel)."""
        for name, config in self.loaded.model.devices.items():
            self._all[name] = device_type(config.driver).simulate(name, config, self)
        await asyncio.gather(*(sim.start() for sim in self._all.values()))
        for name, sim in self._all.items():
            self.override(name, sim.endpoint_update())

    async def stop(self) -> None:
        await asyncio.gather(*(sim.stop() for sim in self.all.values()), return_exceptions=True)

    def endpoints(self) -> dict[str, dict[str, Any]]:
        """Per device, the config fields that point its driver at its simulator."""
        return {name: dict(fields) for name, fields in self._updates.items()}

    def patch(self, loaded: LoadedStation) -> LoadedStation:
        """The station config with every device pointed at its simulator. The content
        hash stays the file's: the journal records the config the engineer wrote."""
        devices = {
            name: config.model_copy(update=self._updates.get(name, {}))
            for name, config in loaded.model.devices.items()
        }
        model = loaded.model.model_copy(update={"devices": devices})
        return dataclasses.replace(loaded, model=model)

    def build(self, loaded: LoadedStation) -> DeviceSet:
        """The station's drivers, pointed at the simulators (a device factory)."""
        return build_devices(self.patch(loaded).model)

    # --- the world acting on the devices ---------------------------------------------------

    def present(self, vin: str | None, uid: str | None, *, label: str | None = None) -> None:
        """A vehicle (its VIN label and its tag) in front of the readers, or nobody.
        `label` is what the windscreen label reads when it is not the VIN (swapped)."""
        for name, sim in self._all.items():
            self._type_of(name).present(sim, vin, uid, label)

    def plan_verdicts(self, vin: str, verdicts: list[str]) -> None:
        for name, sim in self._all.items():
            self._type_of(name).plan_verdicts(sim, vin, verdicts)

    def measure(self, values: Mapping[str, float]) -> None:
        """What the station's devices measure for the vehicle in front of them, by
        quantity name (the names of the station's measure steps): each measuring
        device is given the values of its registers (a tester) or nodes (OPC UA)."""
        by_device: dict[str, dict[str, float]] = {}
        for step in self.loaded.model.cycle:
            if not isinstance(step, MeasureStep):
                continue
            for name, quantity in step.quantities.items():
                device, point = quantity.device, quantity.register_name or quantity.node
                if device is not None and point is not None and name in values:
                    by_device.setdefault(device, {})[point] = values[name]
        for name, sim in self._all.items():
            if name in by_device:
                self._type_of(name).measure_values(sim, by_device[name])

    def inspect(self, values: Mapping[str, float], found: Sequence[ScenarioFinding]) -> None:
        """What the station's inspection systems measure and find in the vehicle in front
        of them (their result document): the values of their inspect steps' quantities,
        by name, with the quantity's unit, and the findings."""
        findings = [f.model_dump() for f in found]
        for step in self.loaded.model.cycle:
            if isinstance(step, InspectStep) and step.result_node and step.device:
                measurements = [
                    {"name": name, "value": values[name], "unit": quantity.unit}
                    for name, quantity in step.quantities.items()
                    if name in values
                ]
                self.inspections[step.device].set_result(measurements, findings)

    async def inject(self, fault: ScenarioFault) -> None:
        """A scenario fault, on the simulators it concerns (none for a label mismatch:
        the floor puts another vehicle's label on the windscreen)."""
        devices = self.loaded.model.devices
        for name, sim in self._all.items():
            await self._type_of(name).inject(name, devices[name], sim, fault)

    def _type_of(self, name: str) -> DeviceType[Any, Any]:
        return device_type(self.loaded.model.devices[name].driver)
