"""The events of a vehicle's cycle and of its steps (folded into the visit, `station.visit`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from station.events.base import Entry, EventKind

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
    """A step ('INDEX:kind') or 'resume' ('forced' in journals written before
    `OutputForced`)."""
    operator: str | None
    data: dict[str, int]
    """Output name -> value."""


class ChecklistItemData(TypedDict):
    index: int
    text: str
    findings: NotRequired[str]
    """With `show_findings`: the vehicle's findings shown with the item (what to fix)."""


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


class MeasuredValue(TypedDict):
    """One measured quantity with what it was judged against."""

    name: str
    value: float
    """Rounded to `decimals`: the value shown and judged."""
    unit: str
    decimals: int
    low: float | None
    low_inclusive: bool
    high: float | None
    high_inclusive: bool
    ok: bool
    """Within the limits."""


class MeasuredData(TypedDict):
    source: str
    """'device:NAME' (read from a device) or 'typed' (by the inspector in `operator`)."""
    values: list[MeasuredValue]


@dataclass(frozen=True, kw_only=True)
class Measured(Entry):
    """Values of a measure step, journaled together with their limits and verdict: all
    the quantities one device reading gave, or one typed value."""

    KIND = EventKind.MEASURED
    vin: str
    step: str
    result: str
    """pass when every value is within its limits, else fail."""
    operator: str
    """The inspector who typed the value, or the device that measured it."""
    data: MeasuredData


class FindingData(TypedDict):
    """One defect found at a gate."""

    code: str
    severity: str
    """minor, major or critical."""
    text: str
    """What the defect is (the catalogue's text, or the inspection system's, bounded)."""
    note: str
    """The inspector's free text typed after the code ("" when none, or from a device)."""


class FindingsData(TypedDict):
    source: str
    """'device:NAME' (the inspection system's result) or 'typed' (by the inspector)."""
    findings: list[FindingData]
    fail_on: list[str]
    """The severities that fail this gate (the step's `fail_on`), as judged."""
    complete: bool
    """No more findings will be taken in this step (a device's whole list, or the
    inspector's 'none'): after a restart the step does not ask again."""


@dataclass(frozen=True, kw_only=True)
class Finding(Entry):
    """Findings of an inspect step, journaled before its verdict: a device's whole list
    (complete), one code typed by the inspector, or the inspector's 'none' (complete)."""

    KIND = EventKind.FINDING
    vin: str
    step: str
    result: str
    """fail when a finding's severity is in `fail_on`, else pass."""
    operator: str
    """The inspector who typed it, or the device that found it."""
    data: FindingsData


class AttributeFoundData(TypedDict):
    attribute: str
    """The route attribute asked about, e.g. needs_bodywork."""
    value: bool
    """What the attribute is from the next operation on, when found."""
    operation: str
    """The route operation of the station that asked (the finder)."""
    source: str
    """'typed' (answered by the person in `operator`)."""
    question: str
    """What was asked (the station file's question)."""


@dataclass(frozen=True, kw_only=True)
class AttributeFound(Entry):
    """The answer to whether a route attribute was found on the way (a `find_attributes`
    step): `found` sets it to `value` for the operations after this one (on the tag at
    the write); `not_found` leaves it as it was. Journaled before it is acted on."""

    KIND = EventKind.ATTRIBUTE_FOUND
    vin: str
    step: str
    result: str
    """found or not_found."""
    operator: str
    data: AttributeFoundData


class SweepFault(TypedDict):
    kind: str
    message: str


class ManifestImage(TypedDict):
    """One planned image of a photo session and what became of it (the camera system's
    report: name, checksum, angle and time as it gave them, bounded by the driver)."""

    shot: int
    camera: str
    angle_deg: float
    """The shot's angle."""
    taken_deg: float | None
    """The table angle the camera system took it at (None: no image)."""
    name: str | None
    sha256: str | None
    time: str | None
    problem: str | None
    """None (in the set), not_triggered, no_report or off_angle."""


class PhotoSessionData(TypedDict):
    shots: int
    """Images in the set."""
    expected: int
    """Images planned."""
    rotation: int
    """1 for the first rotation of the step, 2 for its retry ..."""
    manifest: list[ManifestImage]
    fault: SweepFault | None


@dataclass(frozen=True, kw_only=True)
class PhotoSession(Entry):
    """One rotation of the photo session, with its manifest (at most 256 images)."""

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
