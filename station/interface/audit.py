"""Refusals (logins, and anonymous method calls), journaled and logged for audit
without letting a client fill the disk (docs/faults.md rows 31-32).

Per source address and per kind (`login`, `call`), the first refusal of a window of
`throttle.WINDOW_S` is journaled in full (`login_refused`; a refused call is
journaled by the Station it reaches) and logged; the others of the window are only
counted, and one event per window that had any gives the count (`refusals_counted`:
source, what, count, window_s). At most `throttle.REPORTED` addresses a window are
reported in full, all together; the refusals of further ones are counted under the
source `*`: many addresses cannot fill the journal either. What a client chose (a
user name) is bounded and escaped before it is logged, and bounded by the journal.

The audit lives in the OPC UA server's process (asyncua asks the user manager
synchronously there) and hands its entries to `journal`, which sends them to the
station to commit (`station.interface.process`). `run()` journals the counts as windows
end, `flush()` the counts left at stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from station.events import LoginRefused, LoginRefusedData, RefusalsCounted, RefusalsCountedData
from station.events.base import Entry
from station.interface.throttle import Count, RefusalWindows
from station.journal.untrusted import shown


class RefusalAudit:
    def __init__(
        self,
        journal: Callable[[Entry], None],
        log: FilteringBoundLogger,
        windows: RefusalWindows | None = None,
    ) -> None:
        self.journal = journal
        self.log = log
        self.windows = windows if windows is not None else RefusalWindows()

    def login_refused(self, source: str, user: str, why: str) -> None:
        """`user` was refused (`why`) from `source`: journaled if first of its window."""
        if not self.windows.first(source, "login"):
            return
        self.log.warning(
            "opcua_login_refused", user=shown(user), source=source, why=why, audit=True
        )
        data = LoginRefusedData(why=why, source=source)
        self.journal(LoginRefused(operator=user, result="opcua", data=data))

    def call_refused_in_full(self, source: str) -> bool:
        """An anonymous call from `source`: True if it is the first of its window (it goes
        on to the Station, which refuses and journals it), False if only counted."""
        return self.windows.first(source, "call")

    async def run(self) -> None:
        """Journal the counts of the windows that ended, once per window."""
        while True:
            await asyncio.sleep(self.windows.window_s)
            for count in self.windows.ended():
                self.journal(self._counted(count))

    def flush(self) -> None:
        """Journal the counts of every window, ended or not (at stop)."""
        for count in self.windows.ended(every=True):
            self.journal(self._counted(count))

    def _counted(self, count: Count) -> RefusalsCounted:
        self.log.warning(
            "opcua_refusals_counted",
            source=count.source,
            what=count.what,
            count=count.count,
            window_s=count.window_s,
            audit=True,
        )
        data = RefusalsCountedData(
            source=count.source, what=count.what, count=count.count, window_s=count.window_s
        )
        return RefusalsCounted(operator=count.source, result="opcua", data=data)
