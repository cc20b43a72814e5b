"""The VIN barcode reader: Keyence SR command set over serial or TCP.

Driver `hal.readers.keyence.KeyenceReader`, simulator
`simulators.barcode.SimBarcode` (on a pseudo-terminal in process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hal.config import READ_TIMEOUT_MIN_S, KeyenceBarcodeConfig
from hal.interfaces import CodeReader
from station.device_types.base import DeviceType

if TYPE_CHECKING:
    from simulators.barcode import SimBarcode
    from station.config.models import StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices


class BarcodeType(DeviceType[KeyenceBarcodeConfig, "SimBarcode"]):
    word = "barcode"
    config = KeyenceBarcodeConfig
    simulator_module = "simulators.barcode"
    step_field = "barcode"

    def build(
        self, name: str, config: KeyenceBarcodeConfig, station: StationFile, devices: DeviceSet
    ) -> CodeReader:
        from hal.readers.keyence import KeyenceReader

        return devices.barcodes.setdefault(name, KeyenceReader(name, config))

    def simulate(
        self, name: str, config: KeyenceBarcodeConfig, sims: SimulatedDevices
    ) -> SimBarcode:
        from simulators.barcode import SimBarcode

        if sims.serving is None:
            sim = SimBarcode(config, pty=True, name=name)
        else:  # a bench: over TCP, as through a serial-to-Ethernet adapter
            sim = SimBarcode(config, listen=sims.listen(name), name=name)
        sims.barcodes[name] = sim
        # the world is that much faster: so is the reader's window on a label that does not
        # read (a label that reads is answered at once, and one late is still taken after it)
        window = max(READ_TIMEOUT_MIN_S, config.read_timeout_s * sims.time_scale)
        sims.override(name, {"read_timeout_s": window})
        return sim

    def present(self, sim: SimBarcode, vin: str | None, uid: str | None, label: str | None) -> None:
        sim.present(label or vin)

    async def inject(
        self, name: str, config: KeyenceBarcodeConfig, sim: SimBarcode, fault: ScenarioFault
    ) -> None:
        from simulators.barcode import Garbage, NoRead

        if fault.kind == "barcode_noread":
            sim.inject(NoRead(fault.count))
        elif fault.kind == "barcode_garbage":
            sim.inject(Garbage(b"\x00\xff#@!garbage\x1b" * fault.count))


BARCODE = BarcodeType()
