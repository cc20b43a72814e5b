"""One supervised link per device connection.

Every driver owns one `LinkSupervisor`: a single named asyncio task that
opens the connection, runs the driver's session until it fails, marks the
link down, waits a capped exponential backoff with jitter, and tries again.
Consumers never see a half-open link: they read `state` (up/down with the
reason and since when) or await `wait_up()`, and they are called back on each
change. A clean `stop()` cancels the task; CancelledError is a clean stop.

Timeouts use the monotonic clock only (docs/faults.md row 27): wall-clock steps
never shorten or stretch a timeout.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from hal.config import LinkSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LinkState:
    """Whether a link is usable, why not, and since when (monotonic seconds)."""

    up: bool
    reason: str
    since: float


class Backoff:
    """Capped exponential backoff with up to `jitter` (fraction) added at random."""

    def __init__(self, initial: float, maximum: float, jitter: float = 0.2) -> None:
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._next = initial

    def next_delay(self) -> float:
        """The wait before the next attempt; doubles up to the cap."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * (1 + random.uniform(0, self.jitter))

    def reset(self) -> None:
        """After a successful session: start again from the initial wait."""
        self._next = self.initial


Session = Callable[["LinkSupervisor"], Awaitable[None]]
"""A driver's session: connect, call `link.mark_up()`, serve until an error is raised."""


class LinkSupervisor:
    """Runs a driver's session forever, with backoff between failed attempts."""

    def __init__(self, name: str, settings: LinkSettings, session: Session) -> None:
        self.name = name
        self.settings = settings
        self._session = session
        self._state = LinkState(False, "not started", time.monotonic())
        self._up = asyncio.Event()
        self._tried = asyncio.Event()
        self._listeners: list[Callable[[LinkState], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self.attempts = 0
        """Connection attempts so far (tests and diagnostics read it)."""
        self.delays: list[float] = []
        """Backoff waits taken, most recent last (bounded to the last 32)."""

    @property
    def state(self) -> LinkState:
        return self._state

    def on_change(self, listener: Callable[[LinkState], None]) -> None:
        """Call `listener` on every up/down change."""
        self._listeners.append(listener)

    def mark_up(self) -> None:
        """The session is connected and its data is fresh."""
        if not self._state.up:
            self._set(LinkState(True, "connected", time.monotonic()))
            self.backoff.reset()

    def mark_down(self, reason: str) -> None:
        """The link is unusable (stale data, lost connection)."""
        if self._state.up or self._state.reason != reason:
            self._set(LinkState(False, reason, time.monotonic()))

    def _set(self, state: LinkState) -> None:
        changed = state.up != self._state.up
        self._state = state
        if state.up:
            self._up.set()
            self._tried.set()
        else:
            self._up.clear()
        if changed:
            log.info("link_" + ("up" if state.up else "down"), link=self.name, reason=state.reason)
            for listener in self._listeners:
                listener(state)

    async def wait_tried(self) -> None:
        """Return once the first attempt has connected or failed (the state then says which)."""
        await self._tried.wait()

    async def wait_up(self, timeout: float | None = None) -> None:
        """Return once the link is up; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            await self._up.wait()

    def start(self) -> None:
        """Start the supervisor task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"link:{self.name}")

    async def stop(self) -> None:
        """Cancel the supervisor task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            # A cancellation that comes while a library connects can be lost (asyncua's
            # asyncio.wait_for on Python 3.11): cancel again until the task has ended.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            if not task.cancelled():
                task.exception()  # retrieved: it ended by itself, the retry loop said why
        self.mark_down("stopped")

    async def _run(self) -> None:
        while True:
            self.attempts += 1
            try:
                await self._session(self)
                reason = "session ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure becomes a down state and a retry
                reason = f"{type(exc).__name__}: {exc}"
            self.mark_down(reason)
            self._tried.set()
            delay = self.backoff.next_delay()
            self.delays = [*self.delays[-31:], delay]
            log.warning("link_retry", link=self.name, reason=reason, retry_in_s=round(delay, 3))
            await asyncio.sleep(delay)
