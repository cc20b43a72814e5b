"""The station's status snapshot: the one contract between the runtime and
everything that shows it (the OPC UA interface, its client, the console).

The runtime builds a `Status` (`Station.status()`); the OPC UA server maps it
onto its variables and publishes it as JSON on `Station.StatusJson`; the
interface client parses that JSON back into a `Status` for the console. Keys
and types are checked by mypy on both sides, so a renamed field breaks the
build instead of a widget.
"""

from __future__ import annotations

from typing import TypedDict


class QuantityAsked(TypedDict):
    """The quantity a measurement prompt asks for, as the inspector reads it."""

    name: str
    description: str
    unit: str
    decimals: int
    limits: str
    """e.g. '>= 70.0 %' (`station.limits.describe`)."""
    physical_min: float
    physical_max: float
    """A typed value outside physical_min..physical_max is refused (asked again)."""


class CatalogueCode(TypedDict):
    """A defect code an inspector may type at this station (its `findings:`)."""

    code: str
    severity: str
    text: str


class PromptStatus(TypedDict):
    """The question the station is asking a person, if any."""

    kind: str
    text: str
    options: list[str]
    item: int
    name: str
    """What a measurement prompt asks for (the quantity), else ""."""
    quantity: QuantityAsked | None
    """A measurement prompt's quantity (None for other kinds)."""
    catalogue: list[CatalogueCode]
    """A finding prompt's codes to choose from ([] for other kinds)."""


class MeasurementStatus(TypedDict):
    """A measured value as shown, with the limits and verdict it was journaled with."""

    name: str
    value: float | None
    """Rounded to the quantity's decimals; None: not measured since the journal began."""
    unit: str
    limits: str
    """e.g. '>= 70.0 %'."""
    verdict: str
    """pass (within the limits), fail, or "" (not measured)."""
    shown: str
    """As people read it: '81.5 %', 'FAIL: 64.0 % < 70.0 %' ("" not measured)."""
    vin: str | None
    source: str
    """'typed' or 'device:NAME' ("" not measured)."""
    operator: str
    time: str | None
    """Wall time (ISO 8601, UTC) of the `measured` event."""


class FindingStatus(TypedDict):
    """A defect found at a gate in this visit."""

    code: str
    severity: str
    text: str
    note: str


class AlarmStatus(TypedDict):
    """One alarm on the station's list (see `station.alarms`)."""

    key: str
    priority: int
    text: str
    raised_at: str
    active: bool
    acked_by: str | None


class RouteStop(TypedDict):
    """One operation of the route as the console's route strip draws it."""

    step: int
    operation: str
    gate: bool
    done: bool
    here: bool


class Counts(TypedDict):
    """Cycles and their outcomes since the station started."""

    cycles: int
    passed: int
    failed: int
    rework: int
    held: int


class Status(TypedDict):
    """Everything the console and SCADA show about a station, as plain data."""

    station: str
    operation: str
    state: str
    mode: str
    vin: str | None
    model: str
    held: str | None
    route: list[RouteStop]
    step_index: int
    step_count: int
    step: str
    step_progress: float
    prompt: PromptStatus | None
    alarms: list[AlarmStatus]
    counts: Counts
    blocked: bool
    starved: bool
    inputs: dict[str, int | None]
    """None while the input's PLC link is down."""
    outputs: dict[str, int | None]
    """None before the first write."""
    links: dict[str, bool]
    config_hash: str
    route_version: int
    visit_measurements: list[MeasurementStatus]
    """The values measured in this visit, in journal order ([] with no vehicle)."""
    visit_findings: list[FindingStatus]
    """The findings journaled in this visit ([] with no vehicle)."""
    last_measurements: dict[str, MeasurementStatus]
    """Each quantity of the station's steps (by name, in step order): its last
    measurement, of whichever vehicle."""
