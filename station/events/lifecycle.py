"""The station's own events: start, stop, states, safe state, alarms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from station.events.base import Entry, EventKind
from station.status import AlarmStatus

# --- the station ---------------------------------------------------------------------------


class StationStartedData(TypedDict):
    route: str
    config: str
    """Path of the station file."""
    resumed_step: int | None
    """Step index of the vehicle restored from the journal (None: station empty)."""


@dataclass(frozen=True, kw_only=True)
class StationStarted(Entry):
    KIND = EventKind.STATION_STARTED
    vin: str | None
    data: StationStartedData


@dataclass(frozen=True, kw_only=True)
class StationStopped(Entry):
    KIND = EventKind.STATION_STOPPED
    result: str
    """The PackML state at the stop."""


StateData = TypedDict("StateData", {"from": str, "trigger": str, "reason": str})


@dataclass(frozen=True, kw_only=True)
class StateChanged(Entry):
    KIND = EventKind.STATE
    result: str
    """The new PackML state."""
    data: StateData


@dataclass(frozen=True, kw_only=True)
class SafeState(Entry):
    KIND = EventKind.SAFE_STATE
    result: str


@dataclass(frozen=True, kw_only=True)
class AlarmRaised(Entry):
    KIND = EventKind.ALARM_RAISED
    result: str  # the alarm's key
    data: AlarmStatus


@dataclass(frozen=True, kw_only=True)
class AlarmCleared(Entry):
    KIND = EventKind.ALARM_CLEARED
    result: str  # the alarm's key


@dataclass(frozen=True, kw_only=True)
class AlarmAcked(Entry):
    KIND = EventKind.ALARM_ACKED
    operator: str
    result: str  # the alarm's key
    data: AlarmStatus


# --- maintenance ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OutputForced(Entry):
    """An output written by hand in maintenance mode (journaled before the write). Not
    folded into the visit: a force is never asserted again when a vehicle resumes."""

    KIND = EventKind.OUTPUT_FORCED
    operator: str
    data: dict[str, int]
    """Output name -> value."""


class ForcesReleasedData(TypedDict):
    forced: dict[str, int]
    """The outputs forced during this maintenance, with the value forced."""
    outputs: dict[str, int]
    """Every output, with the configured (safe) value it is put back to."""


@dataclass(frozen=True, kw_only=True)
class ForcesReleased(Entry):
    """Leaving maintenance mode: every force dropped, every output put to its configured
    value (journaled before the writes)."""

    KIND = EventKind.FORCES_RELEASED
    operator: str
    result: str
    """The unit mode entered."""
    data: ForcesReleasedData


class ChainHead(TypedDict):
    seq: int
    hash: str


class ChainSealedData(TypedDict):
    reason: str
    old_head: ChainHead
    broken_seq: int | None
    problems: list[str]


@dataclass(frozen=True, kw_only=True)
class ChainSealed(Entry):
    """A supervisor sealed a chain that does not verify: a new chain starts here (see
    `station.journal`); the runtime never writes it, it replays past it."""

    KIND = EventKind.CHAIN_SEALED
    operator: str
    result: str
    data: ChainSealedData
