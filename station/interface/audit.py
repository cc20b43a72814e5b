"""Refused logins, journaled (`login_refused`) and logged for audit.

asyncua asks the user manager synchronously, so the journal entry is written by a
task of its own (`opcua-audit:<station>`); the server cancels those left at stop.
"""

from __future__ import annotations

import asyncio

from structlog.typing import FilteringBoundLogger

from station.journal import Event
from station.runtime import Station


class LoginAudit:
    def __init__(self, station: Station, log: FilteringBoundLogger) -> None:
        self.station = station
        self.log = log
        self.tasks: set[asyncio.Task[Event]] = set()

    def refused(self, user: str, why: str) -> None:
        """`user` was refused (`why`): log it now, journal it in a task."""
        self.log.warning("opcua_login_refused", user=user, why=why, audit=True)
        task = asyncio.create_task(
            self.station.record("login_refused", operator=user, result="opcua", data={"why": why}),
            name=f"opcua-audit:{self.station.name}",
        )
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Event]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("login_refused_not_journaled", error=repr(task.exception()))
