"""What a cycle step is given (the few things it reads and the few things it may
do) and how it fails.

The runtime builds one `StepContext` per vehicle (`Station` owns what is in it);
the steps (`station.cycle`, `station.identify`) see nothing else of the station.
A step either finishes or raises `StepFailed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from structlog.typing import FilteringBoundLogger

from hal.errors import DeviceError, LinkDown
from station.alarms import Priority
from station.config.models import StationFile
from station.defects import DefectRecord
from station.devices import DeviceSet
from station.events import Entry
from station.journal import Event
from station.prompts import Prompts
from station.route import RouteSnapshot
from station.visit import Visit

Action = Literal["hold", "abort"]


class StepFailed(Exception):
    """A step could not finish: the station holds or aborts, with an alarm."""

    def __init__(
        self,
        action: Action,
        kind: str,
        message: str,
        *,
        priority: Priority = Priority.HIGH,
        data: Mapping[str, Any] | None = None,
        vin: str | None = None,
    ) -> None:
        super().__init__(message)
        self.vin = vin
        """The vehicle concerned, when the station has not identified it yet."""
        self.action = action
        self.kind = kind
        self.message = message
        self.priority = priority
        self.data = data or {}


def device_failure(exc: DeviceError, step: str) -> StepFailed:
    """A device error during a step: abort, naming the device and what failed."""
    kind = "link_lost" if isinstance(exc, LinkDown) else type(exc).__name__
    return StepFailed("abort", kind, f"{step}: {exc}", priority=Priority.CRITICAL)


Record = Callable[[Entry], Awaitable[Event]]
"""Commit an event to the journal (returns once it is on disk) and fold it into the visit."""


class Orders(Protocol):
    """The plant's order data for a VIN (the line simulator's scenario, or an MES)."""

    def attributes(self, vin: str) -> frozenset[str]: ...

    def model(self, vin: str) -> str: ...


class NoOrders:
    """No order system: no vehicle attributes at intake, no model names."""

    def attributes(self, vin: str) -> frozenset[str]:
        return frozenset()

    def model(self, vin: str) -> str:
        return ""


@dataclass
class StepReport:
    """What the running step shows on the status: its progress and whether the vehicle
    waits to leave (the way out blocked). `changed` publishes the status now."""

    changed: Callable[[], None]
    progress: float = 0.0
    """0..1 through the step."""
    blocked: bool = False


@dataclass(frozen=True)
class StepContext:
    """A step's view of the station, for one vehicle."""

    station: StationFile
    """The station's config: its name, operation and devices."""
    route: RouteSnapshot
    visit: Visit
    """The vehicle in the station, as the journal has it."""
    devices: DeviceSet
    prompts: Prompts
    orders: Orders
    defects: DefectRecord
    """The vehicle's findings at its gates (the rework bay shows them)."""
    record: Record
    raise_alarm: Callable[[str, Priority, str], None]
    clear_alarm: Callable[[str], None]
    report: StepReport
    time_scale: float
    """Device timings (settle, trigger) are multiplied by this (below 1 in fast simulation)."""
    log: FilteringBoundLogger
