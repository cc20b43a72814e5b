"""The RFID read/write head: Balluff BIS style, ISO 15693 hang tags.

Driver `hal.readers.bis.BisTagReader`, simulator `simulators.rfid.SimRfid`
on TCP, its tags in the `TagStore` of the simulated devices (shared by the
stations of a simulated line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hal.config import BalluffRfidConfig
from hal.interfaces import TagReader
from station.device_types.base import DeviceType

if TYPE_CHECKING:
    from simulators.rfid import SimRfid
    from station.config.models import StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices


class RfidType(DeviceType[BalluffRfidConfig, "SimRfid"]):
    word = "rfid"
    config = BalluffRfidConfig
    simulator_module = "simulators.rfid"
    step_field = "rfid"

    def build(
        self, name: str, config: BalluffRfidConfig, station: StationFile, devices: DeviceSet
    ) -> TagReader:
        from hal.readers.bis import BisTagReader

        return devices.rfids.setdefault(name, BisTagReader(name, config))

    def simulate(self, name: str, config: BalluffRfidConfig, sims: SimulatedDevices) -> SimRfid:
        from simulators.rfid import SimRfid

        sim = SimRfid(config, sims.tags, listen=sims.listen(name), name=name)
        sims.rfids[name] = sim
        return sim

    def present(self, sim: SimRfid, vin: str | None, uid: str | None, label: str | None) -> None:
        sim.present(uid)

    async def inject(
        self, name: str, config: BalluffRfidConfig, sim: SimRfid, fault: ScenarioFault
    ) -> None:
        from simulators.rfid import MultiTag, NoTag, WriteFail

        if fault.kind == "rfid_notag":
            sim.inject(NoTag())
        elif fault.kind == "rfid_multi":
            sim.inject(MultiTag(("E0040150AABBCC01",)))
        elif fault.kind == "rfid_write_fail":
            sim.inject(WriteFail(fault.count))


RFID = RfidType()
