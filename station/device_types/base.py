"""What a device type declares: its config section, its driver, its simulator,
its config checks and how the simulated world acts on it.

One module per type (`station.device_types.plc`, ...) subclasses
`DeviceType`; `station.device_types` collects them in one registry. The
config model and the driver live in `hal` (which never imports `station`),
the simulator in `simulators`: a type module only ties them together, and
imports the driver and the simulator when it builds one, so that a station
without an OPC UA device never loads asyncua and a real station never loads
a simulator.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args

from hal.config import Section
from hal.interfaces import Device

if TYPE_CHECKING:
    from station.config.models import CycleStep, StationFile
    from station.devices import DeviceSet
    from station.scenario import ScenarioFault
    from station.simulation.devices import SimulatedDevices

Problem = tuple[tuple[str | int, ...], str]
"""A config problem: (path in the file, message); the loader adds file and line."""

C = TypeVar("C", bound=Section)
"""The device's config section (a `hal.config` model with a `driver:` literal)."""
S = TypeVar("S")
"""The device's in-process simulator."""

Standalone = Callable[[C, tuple[str, int] | None, str | None], Coroutine[Any, Any, None]]
"""A simulator's `run_standalone(config, listen, pty)`, for `station sim WORD`."""


class DeviceType(ABC, Generic[C, S]):
    """One kind of device, from its config section to its simulator."""

    word: ClassVar[str]
    """Its name on the command line (`station sim WORD`)."""
    config: type[C]
    """Its config section; the `driver:` literal of that model selects the type."""
    simulator_module: ClassVar[str]
    """The module of its simulator, which has `run_standalone` for `station sim WORD`."""
    step_field: ClassVar[str | None] = None
    """The cycle-step field that names a device of this type (e.g. `rfid`), if any."""
    builds_first: ClassVar[bool] = False
    """Built (and listed) before the other devices: others read what it serves."""

    @property
    def driver(self) -> str:
        """The `driver:` name of its config section."""
        (name,) = get_args(self.config.model_fields["driver"].annotation)
        return str(name)

    @abstractmethod
    def build(self, name: str, config: C, station: StationFile, devices: DeviceSet) -> Device:
        """The driver (nothing connects yet), also filed where the station looks for it."""

    def check(self, name: str, config: C, station: StationFile) -> Iterator[Problem]:
        """Problems of the section that the model alone cannot see (paths from the file's top)."""
        return iter(())

    def check_step(
        self, step: CycleStep, at: tuple[str | int, ...], config: C
    ) -> Iterator[Problem]:
        """Problems of a step that names a device of this type (`step_field`) at `at`."""
        return iter(())

    @abstractmethod
    def simulate(self, name: str, config: C, sims: SimulatedDevices) -> S:
        """The in-process simulator (not started), filed in `sims`."""

    def standalone(self) -> Standalone[C]:
        """The simulator's `run_standalone` (imported now: ModuleNotFoundError if absent)."""
        runner: Standalone[C] = importlib.import_module(self.simulator_module).run_standalone
        return runner

    def present(self, sim: S, vin: str | None, uid: str | None, label: str | None) -> None:
        """A vehicle (VIN label, tag uid) in front of the device, or nobody (None)."""

    def plan_verdicts(self, sim: S, vin: str, verdicts: list[str]) -> None:
        """The verdicts `vin` gets at its next inspections, if the device gives verdicts."""

    def measure_values(self, sim: S, values: Mapping[str, float]) -> None:
        """The values the device measures for the vehicle in front of it (by the device's
        register or node names), if it measures."""

    async def inject(self, name: str, config: C, sim: S, fault: ScenarioFault) -> None:
        """A scenario fault, if it concerns this type of device."""
