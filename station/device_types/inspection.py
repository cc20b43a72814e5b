"""A device the station is an OPC UA client of: the inline inspection system.

Driver `hal.opcua.client.OpcUaClientDevice`, simulator
`simulators.inspection.SimInspection`; `measure` steps may read its nodes
(`device:` and `node:` in their quantities), which its simulator then serves as
measurement nodes. A secured device gets certificates
made for the simulated run (in the state folder's `sim-pki/`), each side
trusting only the other's: the driver validates the simulator's certificate
exactly as it would a real server's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from hal.config import OpcUaDeviceConfig
from hal.interfaces import OpcUaDevice
from station.config.models import InspectStep, MeasureStep
from station.device_types.base import DeviceType, Problem

if TYPE_CHECKING:
    from simulators.inspection import SimInspection
    from station.config.models import CycleStep, StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices


class InspectionType(DeviceType[OpcUaDeviceConfig, "SimInspection"]):
    word = "inspection"
    config = OpcUaDeviceConfig
    simulator_module = "simulators.inspection"
    step_field = "device"

    def build(
        self, name: str, config: OpcUaDeviceConfig, station: StationFile, devices: DeviceSet
    ) -> OpcUaDevice:
        from hal.opcua.client import OpcUaClientDevice

        return devices.opcua.setdefault(name, OpcUaClientDevice(name, config))

    def check(
        self, name: str, config: OpcUaDeviceConfig, station: StationFile
    ) -> Iterator[Problem]:
        """The nodes the measure steps read of this device exist in it."""
        for index, step in enumerate(station.cycle):
            if not isinstance(step, MeasureStep):
                continue
            for quantity_name, quantity in step.quantities.items():
                node = quantity.node
                if quantity.device == name and node is not None and node not in config.nodes:
                    yield (
                        ("cycle", index, "quantities", quantity_name, "node"),
                        f"no node {node!r} in device {name!r} (nodes: {', '.join(config.nodes)})",
                    )

    def check_step(
        self, step: CycleStep, at: tuple[str | int, ...], config: OpcUaDeviceConfig
    ) -> Iterator[Problem]:
        """The nodes an inspect step names exist in the device."""
        if isinstance(step, InspectStep):
            for field in ("vin_node", "verdict_node", "result_node"):
                node = getattr(step, field)
                if node is not None and node not in config.nodes:
                    yield ((*at, field), f"no node {node!r} in device {step.device!r}")

    def simulate(
        self, name: str, config: OpcUaDeviceConfig, sims: SimulatedDevices
    ) -> SimInspection:
        """The inspection simulator, with certificates and a password made for this run."""
        from hal.opcua import certs
        from simulators.inspection import SimInspection

        delay_s = sims.inspection_delay_s * sims.time_scale
        host, port = sims.listen(name)
        measurements = sorted(measured_nodes(name, sims.loaded.model))
        security = config.security
        if security.policy == "None":
            sim = SimInspection(
                config,
                host=host,
                port=port,
                verdict_delay_s=delay_s,
                measurements=measurements,
            )
            sims.inspections[name] = sim
            return sim
        pki = sims.pki_dir / name
        station = sims.loaded.model.station
        server = certs.write_certificate(pki, "server", f"urn:sim:{name}")
        client = certs.write_certificate(pki, "client", f"urn:station:{station}")
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
        sims.override(name, {"security": patched})
        sim = SimInspection(
            config.model_copy(update={"security": patched}),
            host=host,
            port=port,
            verdict_delay_s=delay_s,
            certificate=server.certificate,
            private_key=server.private_key,
            client_trust_dir=pki / "trusted-by-server",
            measurements=measurements,
        )
        sims.inspections[name] = sim
        return sim

    def plan_verdicts(self, sim: SimInspection, vin: str, verdicts: list[str]) -> None:
        sim.plan(vin, verdicts)

    def measure_values(self, sim: SimInspection, values: Mapping[str, float]) -> None:
        sim.set_values(values)

    async def inject(
        self, name: str, config: OpcUaDeviceConfig, sim: SimInspection, fault: ScenarioFault
    ) -> None:
        from simulators.inspection import BadMeasurement, VerdictTimeout

        if fault.kind == "inspection_timeout":
            await sim.inject(VerdictTimeout())
        elif fault.kind == "inspection_bad_measurement":
            await sim.inject(BadMeasurement(fault.count))


INSPECTION = InspectionType()


def measured_nodes(name: str, station: StationFile) -> set[str]:
    """The nodes of device `name` that the station's measure steps read."""
    return {
        quantity.node
        for step in station.cycle
        if isinstance(step, MeasureStep)
        for quantity in step.quantities.values()
        if quantity.device == name and quantity.node is not None
    }
