"""The kinds of journal events and the base of their typed entries (`station.events`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Self

from station.journal import Event


class EventKind(StrEnum):
    """Every kind of event the station journals; the value is what the journal stores."""

    # the station
    STATION_STARTED = "station_started"
    STATION_STOPPED = "station_stopped"
    STATE = "state"
    SAFE_STATE = "safe_state"
    OUTPUT_FORCED = "output_forced"
    FORCES_RELEASED = "forces_released"
    CHAIN_SEALED = "chain_sealed"
    """Written by `station journal seal` (the journal itself), not by the runtime."""
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
    MEASURED = "measured"
    FINDING = "finding"
    ATTRIBUTE_FOUND = "attribute_found"
    PHOTO_SESSION = "photo_session"
    TAG_WRITE = "tag_write"
    TAG_WRITTEN = "tag_written"
    RELEASED = "released"
    # people and the plant
    COMMAND = "command"
    REFUSED = "refused"
    LOGIN_REFUSED = "login_refused"
    REFUSALS_COUNTED = "refusals_counted"
    OVERRIDE = "override"
    DISPOSITION = "disposition"
    CONFIG_REJECTED = "config_rejected"
    CONFIG_PENDING = "config_pending"
    CONFIG_SWAPPED = "config_swapped"
    UPLINK_ACK_IGNORED = "uplink_ack_ignored"


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
