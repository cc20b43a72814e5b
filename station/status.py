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


class PromptStatus(TypedDict):
    """The question the station is asking a person, if any."""

    kind: str
    text: str
    options: list[str]
    item: int
    name: str
    """What a measurement prompt asks for (the quantity), else ""."""


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
