"""In-process simulators for every device of one station.

Each device section of the station file gets the simulator of its driver,
serving the real protocol on loopback (Modbus TCP, a pty for the barcode
reader, TCP for the RFID head, OPC UA for the inspection system). The
station's config is then patched to point each driver at its simulator, so
the runtime runs the same drivers and the same code as on a real line.

A secured OPC UA device gets certificates generated for the run (in the
state folder's `sim-pki/`), each side trusting only the other's: the driver
validates the simulator's certificate exactly as it would a real server's.

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
from pathlib import Path
from typing import Any

from hal.config import (
    BalluffRfidConfig,
    KeyenceBarcodeConfig,
    ModbusPlcConfig,
    ModbusTurntableConfig,
    OpcUaDeviceConfig,
)
from hal.opcua import certs
from simulators.barcode import Garbage, NoRead
from simulators.inspection import SimInspection, VerdictTimeout
from simulators.plc import PlcBehaviour, SimPlc
from simulators.rfid import MultiTag, NoTag, SimRfid, TagStore, WriteFail
from simulators.turntable import SimTurntable, Stall
from station.config.loader import LoadedStation
from station.devices import DeviceSet, build_devices
from station.scenario import ScenarioFault


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
    ) -> None:
        self.loaded = loaded
        self.time_scale = time_scale
        self.state_dir = state_dir
        if tags is None:
            tags = PersistentTagStore(state_dir / "sim-tags.json") if state_dir else TagStore()
        self.tags = tags
        self.plcs: dict[str, SimPlc] = {}
        self.turntables: dict[str, SimTurntable] = {}
        self.barcodes: dict[str, Any] = {}
        self.rfids: dict[str, SimRfid] = {}
        self.inspections: dict[str, SimInspection] = {}
        self._updates: dict[str, dict[str, Any]] = {}
        self._inspection_delay_s = inspection_delay_s

    @property
    def all(self) -> dict[str, Simulator]:
        return {
            **self.plcs,
            **self.turntables,
            **self.barcodes,
            **self.rfids,
            **self.inspections,
        }

    async def start(self) -> None:
        """Create and start every simulator (in parallel)."""
        from simulators.barcode import SimBarcode

        pki = (self.state_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / "sim-pki"
        for name, config in self.loaded.model.devices.items():
            if isinstance(config, ModbusPlcConfig):
                behaviour = dataclasses.replace(
                    PlcBehaviour.for_config(config), arrival_delay_s=0.5, travel_s=3.0
                )
                self.plcs[name] = SimPlc(config, time_scale=self.time_scale, behaviour=behaviour)
            elif isinstance(config, ModbusTurntableConfig):
                self.turntables[name] = SimTurntable(config, time_scale=self.time_scale)
            elif isinstance(config, KeyenceBarcodeConfig):
                self.barcodes[name] = SimBarcode(config, pty=True, name=name)
            elif isinstance(config, BalluffRfidConfig):
                self.rfids[name] = SimRfid(config, self.tags, listen=("127.0.0.1", 0), name=name)
            elif isinstance(config, OpcUaDeviceConfig):
                self.inspections[name] = self._inspection(name, config, pki / name)
        await asyncio.gather(*(sim.start() for sim in self.all.values()))
        for name, sim in self.all.items():
            self._updates[name] = {**self._updates.get(name, {}), **sim.endpoint_update()}

    def _inspection(self, name: str, config: OpcUaDeviceConfig, pki: Path) -> SimInspection:
        """The inspection simulator, with certificates and a password made for this run."""
        security = config.security
        if security.policy == "None":
            return SimInspection(config, verdict_delay_s=self._inspection_delay_s * self.time_scale)
        server = certs.write_certificate(pki, "server", f"urn:sim:{name}")
        client = certs.write_certificate(pki, "client", f"urn:station:{self.loaded.model.station}")
        (pki / "trusted-by-client").mkdir(exist_ok=True)
        (pki / "trusted-by-server").mkdir(exist_ok=True)
        (pki / "trusted-by-client" / "server.der").write_bytes(server.certificate.read_bytes())
        (pki / "trusted-by-server" / "client.der").write_bytes(client.certificate.read_bytes())
        password = pki / "password"
        password.write_text("sim-password\n")
        patched = security.model_copy(
            update={
                "certificate": str(client.certificate),
                "private_key": str(client.private_key),
                "trust_dir": str(pki / "trusted-by-client"),
                "user": security.user or "station",
                "password_file": str(password),
            }
        )
        config = config.model_copy(update={"security": patched})
        self._updates[name] = {"security": patched}
        return SimInspection(
            config,
            verdict_delay_s=self._inspection_delay_s * self.time_scale,
            certificate=server.certificate,
            private_key=server.private_key,
            client_trust_dir=pki / "trusted-by-server",
        )

    async def stop(self) -> None:
        await asyncio.gather(*(sim.stop() for sim in self.all.values()), return_exceptions=True)

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
        for barcode in self.barcodes.values():
            barcode.present(label or vin)
        for rfid in self.rfids.values():
            rfid.present(uid)

    def plan_verdicts(self, vin: str, verdicts: list[str]) -> None:
        for inspection in self.inspections.values():
            inspection.plan(vin, verdicts)

    async def inject(self, fault: ScenarioFault) -> None:
        """A scenario fault, on the simulator it concerns."""
        kind = fault.kind
        if kind == "barcode_noread":
            for barcode in self.barcodes.values():
                barcode.inject(NoRead(fault.count))
        elif kind == "barcode_garbage":
            for barcode in self.barcodes.values():
                barcode.inject(Garbage(b"\x00\xff#@!garbage\x1b" * fault.count))
        elif kind == "rfid_notag":
            for rfid in self.rfids.values():
                rfid.inject(NoTag())
        elif kind == "rfid_multi":
            for rfid in self.rfids.values():
                rfid.inject(MultiTag(("E0040150AABBCC01",)))
        elif kind == "rfid_write_fail":
            for rfid in self.rfids.values():
                rfid.inject(WriteFail(fault.count))
        elif kind == "plc_link_drop":
            from simulators.modbus_server import LinkDrop

            for plc in self.plcs.values():
                plc.inject(LinkDrop(fault.seconds))
        elif kind == "modbus_exception":
            from simulators.modbus_server import ExceptionReply

            for name, plc in self.plcs.items():
                config = self.loaded.model.devices[name]
                assert isinstance(config, ModbusPlcConfig)
                point = next(iter(config.inputs.values()))
                plc.inject(ExceptionReply(fault.code, point.table, point.address))
        elif kind == "turntable_stall":
            for table in self.turntables.values():
                table.inject(Stall(fault.at_deg))
        elif kind == "label_mismatch":
            pass  # the feeder puts another vehicle's label on the windscreen
        elif kind == "inspection_timeout":
            for inspection in self.inspections.values():
                await inspection.inject(VerdictTimeout())
