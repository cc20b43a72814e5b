"""The events of people and the plant: commands, refusals, overrides, config swaps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict

from station.events.base import Entry, EventKind

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
    """The refusal's message (bounded: it may quote what a client sent)."""
    reason: str
    """What kind of refusal: not_authorized, illegal_state, invalid_argument,
    out_of_range, device (absent in journals written before it)."""
    detail: str
    """The command's arguments as sent (bounded)."""


@dataclass(frozen=True, kw_only=True)
class CommandRefused(Entry):
    KIND = EventKind.REFUSED
    operator: str
    result: str  # the action
    data: RefusedData


class LoginRefusedData(TypedDict):
    why: str
    source: NotRequired[str]
    """The client's address (absent in journals written before it)."""


@dataclass(frozen=True, kw_only=True)
class LoginRefused(Entry):
    KIND = EventKind.LOGIN_REFUSED
    operator: str
    result: str
    """Where the login was tried (opcua)."""
    data: LoginRefusedData


class RefusalsCountedData(TypedDict):
    source: str
    """The client's address."""
    what: str
    """login or call"""
    count: int
    """Refusals past the first of the window (the first is journaled in full)."""
    window_s: float


@dataclass(frozen=True, kw_only=True)
class RefusalsCounted(Entry):
    """Refusals of one client in one window, counted rather than journaled one by one
    (a client cannot fill the journal by being refused)."""

    KIND = EventKind.REFUSALS_COUNTED
    operator: str
    result: str
    """Where (opcua)."""
    data: RefusalsCountedData


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


class UplinkAckIgnoredData(TypedDict):
    seq: int | None
    hash: str | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class UplinkAckIgnored(Entry):
    """An ack from the plant link that the station did not take (older than its cursor,
    for a seq it never wrote, with another hash, malformed): journaled once per cause."""

    KIND = EventKind.UPLINK_ACK_IGNORED
    data: UplinkAckIgnoredData
