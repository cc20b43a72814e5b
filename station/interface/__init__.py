"""The station's OPC UA interface: the contract both sides share.

`server` serves a running `Station` (status and commands) to SCADA and to the
operator console; `client` is the console's side of it; `users` holds the people
who may act, with their roles. This module holds only the names both sides use
(namespace, node ids, method names, the variable types and the status codes of a
call), so that the console imports neither the runtime nor asyncua's server, and the
station's process, which leaves the serving to the server's process, not asyncua at
all. The address space itself is documented in `station.interface.server`.
"""

from __future__ import annotations

from enum import IntEnum

NAMESPACE_URI = "urn:station-controller:station"
"""The namespace of every node of ours; node ids are strings in it (`ns=<index>;s=...`)."""

STATION = "Station"
"""Node id of the station object (its browse and display name is the station's name)."""

STATE_MACHINE = "Station.BaseStateMachine"
"""The PackML state machine object: CurrentState and the PackML command methods."""

COMMANDS = "Station.Commands"
"""The object holding the station's own methods (alarms, prompts, overrides)."""

STATUS_JSON = "Station.Status.Json"
"""The whole status snapshot (`Station.status()`) as one JSON string: what the console reads."""

MEASUREMENTS = "Station.Measurements"
"""Object holding one object per measured quantity: its last measurement."""

EVENTS_JSON = "Station.Events.Recent"
"""The station's most recent journal events, oldest first, as one JSON string."""

PACKML_METHODS = (
    "Start",
    "Stop",
    "Hold",
    "Unhold",
    "Reset",
    "Clear",
    "Abort",
    "Suspend",
    "Unsuspend",
    "SetUnitMode",
)
"""Methods of the state machine object (OPC 30050 names)."""

PACKML_COMMANDS = tuple(m for m in PACKML_METHODS if m != "SetUnitMode")
"""The state machine's methods that are PackML commands (`Station.command`)."""

STATION_METHODS = (
    "AcknowledgeAlarm",
    "ConfirmChecklistItem",
    "EnterVerdict",
    "EnterMeasurement",
    "EnterFinding",
    "EnterAttribute",
    "ManualVin",
    "ConfirmStep",
    "Override",
    "Dispose",
    "ForceOutput",
    "WhoAmI",
)
"""Methods of the commands object."""


def method_parent(method: str) -> str:
    """The node id of the object that holds `method` (KeyError naming the methods)."""
    if method in PACKML_METHODS:
        return STATE_MACHINE
    if method in STATION_METHODS:
        return COMMANDS
    known = ", ".join((*PACKML_METHODS, *STATION_METHODS))
    raise KeyError(f"no method {method!r} (methods: {known})")


class V(IntEnum):
    """The types of our variables: OPC UA's built-in type numbers (OPC 10000-6 5.1.2,
    asyncua's `ua.VariantType`), which the server's process turns into asyncua's."""

    Boolean = 1
    Int32 = 6
    Double = 11
    String = 12
    DateTime = 13
    LocalizedText = 21


class Code:
    """The status codes the station's process answers a method call with (OPC 10000-6
    7.34, the values of asyncua's `StatusCodes` of the same names)."""

    Good = 0
    BadInternalError = 0x80020000
    BadUserAccessDenied = 0x801F0000
    BadNoCommunication = 0x80310000
    BadWaitingForInitialData = 0x80320000
    BadOutOfRange = 0x803C0000
    BadMethodInvalid = 0x80750000
    BadDeviceFailure = 0x808B0000
    BadInvalidArgument = 0x80AB0000
    BadInvalidState = 0x80AF0000
