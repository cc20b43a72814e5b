"""Station alarms: priority, time, acknowledgement, all journaled.

An alarm is raised by the runtime (device loss, route violation, id
mismatch, no-read, stall ...), stays active until its cause clears, and
stays on the list until it is both inactive and acknowledged by a user.
Raising an alarm that is already active does nothing (one alarm per cause),
so a flapping link does not flood the operator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum

from station.status import AlarmStatus


class Priority(IntEnum):
    """Lower is more urgent (ISA-18.2 style)."""

    CRITICAL = 1
    HIGH = 2
    MEDIUM = 3
    LOW = 4


@dataclass(frozen=True)
class Alarm:
    """One alarm. `key` identifies its cause, e.g. 'link:plc' or 'route:VF1...'."""

    key: str
    priority: Priority
    text: str
    raised_at: str
    raised_mono: float
    active: bool = True
    acked_by: str | None = None

    def to_dict(self) -> AlarmStatus:
        return {
            "key": self.key,
            "priority": int(self.priority),
            "text": self.text,
            "raised_at": self.raised_at,
            "active": self.active,
            "acked_by": self.acked_by,
        }


class AlarmList:
    """The station's alarms in raise order. Pure bookkeeping: the runtime journals."""

    def __init__(self) -> None:
        self._alarms: dict[str, Alarm] = {}

    def raise_(self, key: str, priority: Priority, text: str) -> Alarm | None:
        """Raise an alarm; None when the same cause is already active."""
        existing = self._alarms.get(key)
        if existing is not None and existing.active:
            return None
        alarm = Alarm(
            key,
            priority,
            text,
            datetime.now(UTC).isoformat(timespec="milliseconds"),
            time.monotonic(),
        )
        self._alarms.pop(key, None)
        self._alarms[key] = alarm
        return alarm

    def clear(self, key: str) -> Alarm | None:
        """The cause went away; an acknowledged alarm leaves the list."""
        alarm = self._alarms.get(key)
        if alarm is None or not alarm.active:
            return None
        cleared = replace(alarm, active=False)
        if cleared.acked_by is not None:
            del self._alarms[key]
        else:
            self._alarms[key] = cleared
        return cleared

    def acknowledge(self, key: str, user: str) -> Alarm:
        """A user has seen it; an inactive alarm then leaves the list. KeyError if unknown."""
        alarm = self._alarms.get(key)
        if alarm is None:
            known = ", ".join(self._alarms) or "none"
            raise KeyError(f"no alarm {key!r} (alarms: {known})")
        acked = replace(alarm, acked_by=user)
        if acked.active:
            self._alarms[key] = acked
        else:
            del self._alarms[key]
        return acked

    def active(self) -> list[Alarm]:
        return [a for a in self._alarms.values() if a.active]

    def all(self) -> list[Alarm]:
        """Every alarm on the list, most urgent first, then oldest first."""
        return sorted(self._alarms.values(), key=lambda a: (a.priority, a.raised_mono))
