"""The station's journal events, typed: each kind, and the fields an event of that kind carries.

The journal (`station.journal`) stores any kind as text; this module is the contract
between the code that journals events (the runtime, the cycle steps) and the code that
replays them (`station.visit`, after a crash). Each kind is an `EventKind` (stored as its
value, the same string as before the enum: journals on disk read unchanged) and has one
entry class naming the event's columns it fills (`vin`, `step`, `result`, `operator`)
and the keys of its `data`. mypy checks both sides: a misspelt kind is an unknown name,
a missing or misspelt field an error at the call.

An entry is built where the event happens and committed with `Station.commit`
(`Journal.append(entry.KIND, **entry.fields())`); `Entry.of(event)` gives the typed view
of a committed event back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Self, TypedDict

from station.journal import Event
from station.status import AlarmStatus


class EventKind(StrEnum):
    """Every kind of event the station journals; the value is what the journal stores."""

    # the station
    STATION_STARTED = "station_started"
    STATION_STOPPED = "station_stopped"
    STATE = "state"
    SAFE_STATE = "safe_state"
    ALARM_RAISED = "alarm_raised"
    ALARM_CLEARED = "alarm_cleared"
    ALARM_ACKED = "alarm_acked"
    # the cycle
    CYCLE_STARTED = "cycle_started"
    STEP_STARTED = "step_started"
    STEP_DONE = "step_done"
    HOLD = "hold"
    FAULT = "fault"
    CYCLE_ENDED = "cycle_ended"
    # the steps
    NOREAD = "noread"
    VIN_REJECTED = "vin_rejected"
    MANUAL_VIN = "manual_vin"
    IDENTIFIED = "identified"
    PROGRESS = "progress"
    ADMITTED = "admitted"
    VIOLATION = "violation"
    OUTPUTS = "outputs"
    CHECKLIST_ITEM = "checklist_item"
    VERDICT = "verdict"
    PHOTO_SESSION = "photo_session"
    TAG_WRITE = "tag_write"
    TAG_WRITTEN = "tag_written"
    RELEASED = "released"
    # people and the plant
    COMMAND = "command"
    REFUSED = "refused"
    LOGIN_REFUSED = "login_refused"
    OVERRIDE = "override"
    DISPOSITION = "disposition"
    CONFIG_REJECTED = "config_rejected"
    CONFIG_PENDING = "config_pending"
    CONFIG_SWAPPED = "config_swapped"


@dataclass(frozen=True, kw_only=True)
class Entry:
    """An event of one kind before it is committed. Subclasses declare, with their
    types, the columns they fill (`vin`, `step`, `result`, `operator`) and `data`;
    columns they do not declare stay empty."""

    KIND: ClassVar[EventKind]

    def fields(self) -> dict[str, Any]:
        """The keyword arguments of `Journal.append` (the kind apart)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def of(cls, event: Event) -> Self:
        """The typed view of a committed event of this kind."""
        if event.kind != cls.KIND:
            raise ValueError(f"event {event.seq} is {event.kind!r}, not {cls.KIND.value!r}")
        return cls(**{f.name: getattr(event, f.name) for f in dataclasses.fields(cls)})


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


# --- the cycle ---------------------------------------------------------------------------


class CycleStartedData(TypedDict):
    cycle: int
    """The station's cycle number, from 1."""


@dataclass(frozen=True, kw_only=True)
class CycleStarted(Entry):
    KIND = EventKind.CYCLE_STARTED
    data: CycleStartedData


@dataclass(frozen=True, kw_only=True)
class StepStarted(Entry):
    KIND = EventKind.STEP_STARTED
    vin: str | None
    step: str
    """'INDEX:kind', e.g. '3:set_outputs' (so every step event below)."""


@dataclass(frozen=True, kw_only=True)
class StepDone(Entry):
    KIND = EventKind.STEP_DONE
    vin: str | None
    step: str
    result: str


@dataclass(frozen=True, kw_only=True)
class StepFailure(Entry):
    """A step that could not finish: `Hold` for a cause a person must decide on,
    `Fault` for a device fault (the station aborts)."""

    vin: str | None
    result: str
    """The failure's kind (timeout, id_mismatch, turning_back, link_lost ...)."""
    data: dict[str, Any]
    """'message', and the failure's details (expected, found ...)."""


@dataclass(frozen=True, kw_only=True)
class Hold(StepFailure):
    KIND = EventKind.HOLD


@dataclass(frozen=True, kw_only=True)
class Fault(StepFailure):
    KIND = EventKind.FAULT


@dataclass(frozen=True, kw_only=True)
class CycleEnded(Entry):
    KIND = EventKind.CYCLE_ENDED
    vin: str | None
    result: str
    """passed, failed, rework or held."""


# --- the steps ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Noread(Entry):
    KIND = EventKind.NOREAD
    result: str
    """'attempt N/M'."""


class VinRejectedData(TypedDict):
    code: str  # as the barcode reader read it


@dataclass(frozen=True, kw_only=True)
class VinRejected(Entry):
    KIND = EventKind.VIN_REJECTED
    result: str
    """Why the code is not a VIN."""
    data: VinRejectedData


@dataclass(frozen=True, kw_only=True)
class ManualVin(Entry):
    KIND = EventKind.MANUAL_VIN
    vin: str
    operator: str
    result: str


class IdentifiedData(TypedDict):
    tag: str | None
    """Hex of the tag as read (None: no tag read)."""
    model: str


@dataclass(frozen=True, kw_only=True)
class Identified(Entry):
    KIND = EventKind.IDENTIFIED
    vin: str
    step: str
    result: str
    """The sources of the VIN, e.g. 'barcode+rfid'."""
    data: IdentifiedData


class TagData(TypedDict):
    tag: str
    """Hex of the tag content."""


@dataclass(frozen=True, kw_only=True)
class IntakeProgress(Entry):
    """Intake: the progress a new vehicle starts with."""

    KIND = EventKind.PROGRESS
    vin: str
    step: str
    data: TagData


class AdmittedData(TypedDict):
    operation: str
    rework: bool


@dataclass(frozen=True, kw_only=True)
class Admitted(Entry):
    KIND = EventKind.ADMITTED
    vin: str
    step: str
    data: AdmittedData


class ViolationData(TypedDict):
    kind: str
    expected: str
    found: str
    message: str


@dataclass(frozen=True, kw_only=True)
class RouteViolated(Entry):
    KIND = EventKind.VIOLATION
    vin: str | None
    step: str
    result: str
    """The violation's kind."""
    data: ViolationData


@dataclass(frozen=True, kw_only=True)
class OutputsSet(Entry):
    KIND = EventKind.OUTPUTS
    vin: str | None
    step: str
    """A step ('INDEX:kind'), 'resume' or 'forced'."""
    operator: str | None
    data: dict[str, int]
    """Output name -> value."""


class ChecklistItemData(TypedDict):
    index: int
    text: str


@dataclass(frozen=True, kw_only=True)
class ChecklistItem(Entry):
    KIND = EventKind.CHECKLIST_ITEM
    vin: str | None
    step: str
    result: str
    operator: str
    data: ChecklistItemData


@dataclass(frozen=True, kw_only=True)
class Verdict(Entry):
    KIND = EventKind.VERDICT
    vin: str
    step: str
    result: str
    """pass or fail."""
    operator: str | None
    """The inspector, or the inspection device."""


class SweepFault(TypedDict):
    kind: str
    message: str


class PhotoSessionData(TypedDict):
    shots: int
    expected: int
    angles: list[float]
    fault: SweepFault | None


@dataclass(frozen=True, kw_only=True)
class PhotoSession(Entry):
    KIND = EventKind.PHOTO_SESSION
    vin: str | None
    step: str
    result: str
    """complete or incomplete."""
    data: PhotoSessionData


class TagWriteData(TagData):
    seq: int


@dataclass(frozen=True, kw_only=True)
class TagWrite(Entry):
    """The tag content after this operation, journaled before it is written."""

    KIND = EventKind.TAG_WRITE
    vin: str
    data: TagWriteData


@dataclass(frozen=True, kw_only=True)
class TagWritten(Entry):
    KIND = EventKind.TAG_WRITTEN
    vin: str | None
    step: str
    result: str


@dataclass(frozen=True, kw_only=True)
class Released(Entry):
    KIND = EventKind.RELEASED
    vin: str | None
    step: str
    result: str
    """passed or failed."""


# --- people and the plant ------------------------------------------------------------------


class CommandData(TypedDict):
    role: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class CommandTaken(Entry):
    """A command a person's role allows (carried out or refused by the state next)."""

    KIND = EventKind.COMMAND
    operator: str
    result: str  # the action
    data: CommandData


class RefusedData(TypedDict, total=False):
    role: str
    why: str


@dataclass(frozen=True, kw_only=True)
class CommandRefused(Entry):
    KIND = EventKind.REFUSED
    operator: str
    result: str  # the action
    data: RefusedData


class LoginRefusedData(TypedDict):
    why: str


@dataclass(frozen=True, kw_only=True)
class LoginRefused(Entry):
    KIND = EventKind.LOGIN_REFUSED
    operator: str
    result: str
    """Where the login was tried (opcua)."""
    data: LoginRefusedData


class OverrideData(TypedDict):
    what: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Override(Entry):
    KIND = EventKind.OVERRIDE
    vin: str | None
    operator: str
    data: OverrideData


class DispositionData(TypedDict):
    action: str
    """retry or remove."""
    reason: str


@dataclass(frozen=True, kw_only=True)
class Disposition(Entry):
    KIND = EventKind.DISPOSITION
    vin: str | None
    operator: str
    data: DispositionData


class ConfigRejectedData(TypedDict):
    path: str
    errors: list[str]
    running: str
    """Content hash of the config kept."""


@dataclass(frozen=True, kw_only=True)
class ConfigRejected(Entry):
    KIND = EventKind.CONFIG_REJECTED
    operator: str
    data: ConfigRejectedData


class ConfigPendingData(TypedDict):
    path: str
    new: str
    running: str


@dataclass(frozen=True, kw_only=True)
class ConfigPending(Entry):
    KIND = EventKind.CONFIG_PENDING
    operator: str
    data: ConfigPendingData


class ConfigSwappedData(TypedDict):
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class ConfigSwapped(Entry):
    KIND = EventKind.CONFIG_SWAPPED
    data: ConfigSwappedData
