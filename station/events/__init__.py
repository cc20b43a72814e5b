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

The entries live in one module per role: `base` (the kinds and `Entry`), `lifecycle`
(the station itself, its alarms and maintenance), `cycle` (a vehicle's cycle and its steps),
`people` (commands, refusals, config); import them from here.
"""

from __future__ import annotations

from station.events.base import (
    Entry,
    EventKind,
)
from station.events.cycle import (
    Admitted,
    AdmittedData,
    ChecklistItem,
    ChecklistItemData,
    CycleEnded,
    CycleStarted,
    CycleStartedData,
    Fault,
    Hold,
    Identified,
    IdentifiedData,
    IntakeProgress,
    ManualVin,
    Noread,
    OutputsSet,
    PhotoSession,
    PhotoSessionData,
    Released,
    RouteViolated,
    StepDone,
    StepFailure,
    StepStarted,
    SweepFault,
    TagData,
    TagWrite,
    TagWriteData,
    TagWritten,
    Verdict,
    VinRejected,
    VinRejectedData,
    ViolationData,
)
from station.events.lifecycle import (
    AlarmAcked,
    AlarmCleared,
    AlarmRaised,
    ForcesReleased,
    ForcesReleasedData,
    OutputForced,
    SafeState,
    StateChanged,
    StateData,
    StationStarted,
    StationStartedData,
    StationStopped,
)
from station.events.people import (
    CommandData,
    CommandRefused,
    CommandTaken,
    ConfigPending,
    ConfigPendingData,
    ConfigRejected,
    ConfigRejectedData,
    ConfigSwapped,
    ConfigSwappedData,
    Disposition,
    DispositionData,
    LoginRefused,
    LoginRefusedData,
    Override,
    OverrideData,
    RefusedData,
)

__all__ = [
    "Admitted",
    "AdmittedData",
    "AlarmAcked",
    "AlarmCleared",
    "AlarmRaised",
    "ChecklistItem",
    "ChecklistItemData",
    "CommandData",
    "CommandRefused",
    "CommandTaken",
    "ConfigPending",
    "ConfigPendingData",
    "ConfigRejected",
    "ConfigRejectedData",
    "ConfigSwapped",
    "ConfigSwappedData",
    "CycleEnded",
    "CycleStarted",
    "CycleStartedData",
    "Disposition",
    "DispositionData",
    "Entry",
    "EventKind",
    "Fault",
    "ForcesReleased",
    "ForcesReleasedData",
    "Hold",
    "Identified",
    "IdentifiedData",
    "IntakeProgress",
    "LoginRefused",
    "LoginRefusedData",
    "ManualVin",
    "Noread",
    "OutputForced",
    "OutputsSet",
    "Override",
    "OverrideData",
    "PhotoSession",
    "PhotoSessionData",
    "RefusedData",
    "Released",
    "RouteViolated",
    "SafeState",
    "StateChanged",
    "StateData",
    "StationStarted",
    "StationStartedData",
    "StationStopped",
    "StepDone",
    "StepFailure",
    "StepStarted",
    "SweepFault",
    "TagData",
    "TagWrite",
    "TagWriteData",
    "TagWritten",
    "Verdict",
    "VinRejected",
    "VinRejectedData",
    "ViolationData",
]
