"""The record of one vehicle's cycle at a station, a small state machine defined as data::

    queued --enter--> in_station --mark_passed--> passed --release--> released
                       |  ^      --mark_failed--> failed --release--> released
                       |  |
                  hold |  | clear_hold
                       v  |
                       held --dispose--> released

- `failed` is released too: to the rework bay the route names, never to sale.
- A hold ends one of two ways. `clear_hold` when its cause is resolved on the
  spot (an operator entered the VIN after a no-read, a reader agreed on a
  retry): the vehicle returns to in_station at the same step index, and that
  step runs again, so no step is skipped. `dispose` when a supervisor decides
  (a route violation, a failed gate awaiting disposition): the vehicle leaves
  the station with the supervisor's reason.
- `step` is the index in the station's cycle of the step the vehicle is at;
  `advance_step` moves it on when a step is done, in in_station only.
- `timestamps` holds the wall time each state was last entered (timestamps
  only: timeouts use the monotonic clock); `reason` is the reason given with
  the last transition, empty after one that takes none.

Boundary: the record holds and checks the vehicle's progress through one
cycle; it does no I/O and knows nothing of the station's state machine. The
VIN is checked for form only (17 characters, no I, O, Q); check digits and
the reading of it belong to identification. `to_dict`/`from_dict` give the
JSON-ready form the runtime journals and restores after a crash; `from_dict`
rejects unknown keys, a missing or malformed field, and a state without its
timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from station.config.models import Slug

Vin = Annotated[str, Field(pattern=r"^[A-HJ-NPR-Z0-9]{17}$")]
"""17 characters, digits and capitals without I, O and Q."""


class VehicleState(StrEnum):
    QUEUED = "queued"
    IN_STATION = "in_station"
    PASSED = "passed"
    FAILED = "failed"
    HELD = "held"
    RELEASED = "released"


class VehicleEvent(StrEnum):
    """What happens to a vehicle; each is the name of the record's method."""

    ENTER = "enter"
    MARK_PASSED = "mark_passed"
    MARK_FAILED = "mark_failed"
    HOLD = "hold"
    CLEAR_HOLD = "clear_hold"
    RELEASE = "release"
    DISPOSE = "dispose"


VEHICLE_TRANSITIONS: Final[Mapping[tuple[VehicleState, VehicleEvent], VehicleState]] = (
    MappingProxyType(
        {
            (VehicleState.QUEUED, VehicleEvent.ENTER): VehicleState.IN_STATION,
            (VehicleState.IN_STATION, VehicleEvent.MARK_PASSED): VehicleState.PASSED,
            (VehicleState.IN_STATION, VehicleEvent.MARK_FAILED): VehicleState.FAILED,
            (VehicleState.IN_STATION, VehicleEvent.HOLD): VehicleState.HELD,
            (VehicleState.HELD, VehicleEvent.CLEAR_HOLD): VehicleState.IN_STATION,
            (VehicleState.HELD, VehicleEvent.DISPOSE): VehicleState.RELEASED,
            (VehicleState.PASSED, VehicleEvent.RELEASE): VehicleState.RELEASED,
            (VehicleState.FAILED, VehicleEvent.RELEASE): VehicleState.RELEASED,
        }
    )
)
"""(state, event) -> next state; any other pair is illegal."""


class IllegalVehicleTransition(Exception):
    """An event the record's current state does not take; the record is unchanged."""

    def __init__(self, vin: str, event: str, state: VehicleState) -> None:
        self.vin = vin
        self.event = event
        self.state = state
        takes: list[str] = sorted(e for (s, e) in VEHICLE_TRANSITIONS if s is state)
        if state is VehicleState.IN_STATION:
            takes.append("advance_step")
        names = ", ".join(takes) or "nothing"
        super().__init__(f"vehicle {vin}: cannot {event} when {state}; {state} takes: {names}")


class VehicleRecord(BaseModel):
    """One vehicle's cycle at one station. Build it with `queue`, restore it with `from_dict`."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    vin: Vin
    operation: Slug
    """The route operation this station performs on the vehicle."""
    state: VehicleState
    step: int = Field(ge=0, strict=True)
    """Index in the station's cycle of the step the vehicle is at."""
    timestamps: dict[VehicleState, AwareDatetime]
    """Wall time each state was last entered."""
    reason: str = ""
    """Reason given with the last transition; empty after one that takes none."""

    @model_validator(mode="after")
    def _current_state_has_timestamp(self) -> VehicleRecord:
        if self.state not in self.timestamps:
            raise ValueError(f"timestamps has no entry for the current state {self.state}")
        return self

    @classmethod
    def queue(cls, vin: str, operation: str, at: datetime | None = None) -> VehicleRecord:
        """A new record, queued at the station."""
        return cls(
            vin=vin,
            operation=operation,
            state=VehicleState.QUEUED,
            step=0,
            timestamps={VehicleState.QUEUED: _wall_time(at)},
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VehicleRecord:
        """The record from its `to_dict` form; pydantic.ValidationError names each bad field."""
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: strings, numbers and ISO 8601 times with their offset."""
        return self.model_dump(mode="json")

    def enter(self, at: datetime | None = None) -> None:
        self._move(VehicleEvent.ENTER, "", at)

    def advance_step(self) -> int:
        """The current step is done: move to the next one and return its index."""
        if self.state is not VehicleState.IN_STATION:
            raise IllegalVehicleTransition(self.vin, "advance_step", self.state)
        self.step += 1
        return self.step

    def mark_passed(self, at: datetime | None = None) -> None:
        self._move(VehicleEvent.MARK_PASSED, "", at)

    def mark_failed(self, reason: str, at: datetime | None = None) -> None:
        self._move(VehicleEvent.MARK_FAILED, _required(reason), at)

    def hold(self, reason: str, at: datetime | None = None) -> None:
        self._move(VehicleEvent.HOLD, _required(reason), at)

    def clear_hold(self, reason: str, at: datetime | None = None) -> None:
        """The hold's cause is resolved: back to in_station, where the held step runs again."""
        self._move(VehicleEvent.CLEAR_HOLD, _required(reason), at)

    def release(self, at: datetime | None = None) -> None:
        """Passed or failed: the vehicle leaves the station (a failed one to rework)."""
        self._move(VehicleEvent.RELEASE, "", at)

    def dispose(self, reason: str, at: datetime | None = None) -> None:
        """A supervisor's disposition of a held vehicle: it leaves the station."""
        self._move(VehicleEvent.DISPOSE, _required(reason), at)

    def _move(self, event: VehicleEvent, reason: str, at: datetime | None) -> None:
        dest = VEHICLE_TRANSITIONS.get((self.state, event))
        if dest is None:
            raise IllegalVehicleTransition(self.vin, event, self.state)
        when = _wall_time(at)
        self.state = dest
        self.timestamps[dest] = when
        self.reason = reason


def _wall_time(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"timestamp {at.isoformat()} has no time zone; give an aware datetime")
    return at


def _required(reason: str) -> str:
    if not reason.strip():
        raise ValueError("a reason is required for this transition")
    return reason
