"""The station's care of its journal beyond appending: anchoring its head outside the
station, and the reaction to its files failing under the running station.

- Anchors (docs/journal.md): when the station file names `journal.anchor_key`, the
  journal's head (seq, hash) is signed into `anchors.jsonl` every `anchor_every_s` and
  at a clean stop; `station journal verify --anchor KEY` checks the chain against them.
  A failed anchor is a medium alarm `anchor`, cleared by the next one that succeeds.
- A journal whose files failed (`JournalStorageError`: a disk error, its WAL removed or
  truncated) refuses every later append: the station raises the critical alarm
  `journal` and aborts to the safe state once; no vehicle can be journaled first, so
  none is accepted until a restart (which checks the journal again).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from station.alarms import Priority
from station.fsm import Command
from station.journal import JournalError, JournalStorageError

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any

    from structlog.typing import FilteringBoundLogger

    from station.config.loader import LoadedStation
    from station.journal import Journal


class JournalCare:
    """Anchoring and journal failure; see the module docstring."""

    config: LoadedStation
    journal: Journal
    log: FilteringBoundLogger
    _stopping: bool
    _journal_failure: str | None

    if TYPE_CHECKING:

        def alarms_raise(self, key: str, priority: Priority, text: str) -> None: ...

        def alarms_clear(self, key: str) -> None: ...

        def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...

        async def _command_system(self, command: Command, reason: str) -> None: ...

    async def _anchor_every(self) -> None:
        while True:
            await asyncio.sleep(self.config.model.journal.anchor_every_s)
            await self._anchor()

    async def _anchor(self) -> None:
        """Sign the journal's head into its anchors (when the station file names a key)."""
        key = self.config.model.journal.anchor_key
        if key is None:
            return
        try:
            await self.journal.anchor(self.config.path.parent / key)
        except (OSError, JournalError) as exc:
            if self._stopping:  # no alarm (a task) outlives the stop: the log says it
                self.log.error("anchor_failed", error=str(exc))
            else:
                self.alarms_raise("anchor", Priority.MEDIUM, f"journal head not anchored: {exc}")
        else:
            if not self._stopping:
                self.alarms_clear("anchor")

    def _journal_failed(self, exc: JournalStorageError) -> None:
        """The journal's files failed: every later append fails the same way, so no
        vehicle can be journaled first and none is accepted; only a restart (which checks
        the journal again) goes on. Alarmed and aborted once."""
        if self._journal_failure is not None:
            return
        self._journal_failure = str(exc)
        self.alarms_raise("journal", Priority.CRITICAL, f"{exc}: restart the station")
        self._spawn(self._command_system(Command.ABORT, str(exc)), "journal_failed")
