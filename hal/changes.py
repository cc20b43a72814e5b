"""`Changes`: wake every task waiting for a condition on state that changes.

Used by the drivers (inputs, drive status) and by the simulators (outputs a
test waits for); it knows nothing of any protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Changes:
    """Wakes every waiter when something changed; each re-checks its own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None) -> None:
        """Return once `condition()` is true (it may raise); TimeoutError after `timeout` s."""
        async with asyncio.timeout(timeout):
            while True:
                event = self._event  # taken before the check: a change in between still wakes us
                if condition():
                    return
                await event.wait()
