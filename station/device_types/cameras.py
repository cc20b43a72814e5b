"""The photo studio's camera system: text commands over TCP (or a serial line).

Driver `hal.readers.cameras.CameraSystemDriver`, simulator
`simulators.cameras.SimCameraSystem` (on TCP in process, its encoder input wired to
the station's simulated turntable).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from hal.config import CameraSystemConfig
from hal.interfaces import CameraSystem
from station.config.models import TurntableSweepStep
from station.device_types.base import DeviceType, Problem

if TYPE_CHECKING:
    from simulators.cameras import SimCameraSystem
    from station.config.models import CycleStep, StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices

MAX_SHOTS = 256
"""Images of one session at most: its manifest is one journal event."""


class CamerasType(DeviceType[CameraSystemConfig, "SimCameraSystem"]):
    word = "cameras"
    config = CameraSystemConfig
    simulator_module = "simulators.cameras"
    step_field = "cameras"

    def build(
        self, name: str, config: CameraSystemConfig, station: StationFile, devices: DeviceSet
    ) -> CameraSystem:
        from hal.readers.cameras import CameraSystemDriver

        return devices.cameras.setdefault(name, CameraSystemDriver(name, config))

    def check_step(
        self, step: CycleStep, at: tuple[str | int, ...], config: CameraSystemConfig
    ) -> Iterator[Problem]:
        """Cameras the system has; a manifest of at most MAX_SHOTS images; a tolerance
        that tells one shot angle from the next."""
        if not isinstance(step, TurntableSweepStep):
            return
        for camera in step.shots:
            if camera not in config.cameras:
                installed = ", ".join(config.cameras)
                yield (*at, "shots", camera), f"no camera {camera!r} (installed: {installed})"
        images = sum(len(range(0, step.steps, every)) for every in step.shots.values())
        if images > MAX_SHOTS:
            yield (*at, "shots"), f"{images} images a session: at most {MAX_SHOTS}"
        if step.angle_tolerance_deg * 2 >= step.step_deg:
            yield (
                (*at, "angle_tolerance_deg"),
                f"must be below half of step_deg ({step.step_deg / 2:g})",
            )

    def simulate(
        self, name: str, config: CameraSystemConfig, sims: SimulatedDevices
    ) -> SimCameraSystem:
        from simulators.cameras import SimCameraSystem

        def encoder() -> float:  # the first turntable's encoder, counted by the camera system
            return next((t.encoder_deg for t in sims.turntables.values()), 0.0)

        sim = SimCameraSystem(config, listen=sims.listen(name), name=name, encoder=encoder)
        sims.cameras[name] = sim
        return sim

    async def inject(
        self, name: str, config: CameraSystemConfig, sim: SimCameraSystem, fault: ScenarioFault
    ) -> None:
        from simulators.cameras import SilentCamera

        if fault.kind == "camera_silent":
            sim.inject(SilentCamera(fault.camera, fault.count))


CAMERAS = CamerasType()
