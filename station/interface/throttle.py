"""Per source address: backoff after wrong passwords, and refusals counted per window.

A source is the client's IP address (a flood opens a new connection, and so a new
secure channel, for every try: only the address stays). Both tables are bounded
(`MAX_SOURCES`, the least recently seen source forgotten first), so a client
cannot grow them without limit either.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

MAX_SOURCES = 4096
"""Sources remembered by each table."""

FREE_FAILURES = 3
"""Wrong passwords from one source before it is made to wait (`interface.free_wrong_passwords`)."""
BACKOFF_S = 1.0
"""The first wait; it doubles with each further wrong password, up to `MAX_BACKOFF_S`."""
MAX_BACKOFF_S = 60.0
"""`interface.max_login_wait_s`"""

WINDOW_S = 10.0
"""Refusals of a source within this window past the first are only counted
(`interface.refusal_window_s`)."""

REPORTED = 100
"""Sources whose first refusal of a window is journaled in full, all together."""
MANY = "*"
"""The source under which the refusals of sources past `REPORTED` are counted."""

Clock = Callable[[], float]
K = TypeVar("K")
V = TypeVar("V")


class _Bounded(OrderedDict[K, V]):
    def touch(self, key: K, new: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = self[key] = new()
            while len(self) > MAX_SOURCES:
                self.popitem(last=False)
        self.move_to_end(key)
        return value


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0


class Backoff:
    """Wrong passwords per source: after `free` of them, each one more makes the source
    wait `base_s` * 2^(n - free), at most `max_s`; a right password clears it. A
    name is never locked: other sources are not affected."""

    def __init__(
        self,
        free: int = FREE_FAILURES,
        base_s: float = BACKOFF_S,
        max_s: float = MAX_BACKOFF_S,
        clock: Clock = time.monotonic,
    ) -> None:
        self.free, self.base_s, self.max_s, self.clock = free, base_s, max_s, clock
        self._sources: _Bounded[str, _Failures] = _Bounded()

    def wait_s(self, source: str) -> float:
        """How long `source` must still wait before its next try (0: it may try)."""
        failures = self._sources.get(source)
        return 0.0 if failures is None else max(0.0, failures.until - self.clock())

    def failed(self, source: str) -> None:
        failures = self._sources.touch(source, _Failures)
        failures.count += 1
        over = failures.count - self.free
        if over >= 0:
            failures.until = self.clock() + min(self.base_s * 2**over, self.max_s)

    def succeeded(self, source: str) -> None:
        self._sources.pop(source, None)


@dataclass
class _Window:
    start: float
    extra: int = 0


@dataclass(frozen=True)
class Count:
    """Refusals of `what` from `source` past the first of a window of `window_s`."""

    source: str
    what: str
    count: int
    window_s: float


class RefusalWindows:
    """The first refusal of each (source, what) per window is reported in full
    (`first()` is True), the others counted; `ended()` hands the counts of the
    windows that are over. At most `reported` sources are reported in full per
    window all together: the refusals of further sources are counted under the
    source `MANY`, so many addresses cannot fill the journal either."""

    def __init__(
        self, window_s: float = WINDOW_S, clock: Clock = time.monotonic, reported: int = REPORTED
    ) -> None:
        self.window_s, self.clock, self.reported = window_s, clock, reported
        self._windows: _Bounded[tuple[str, str], _Window] = _Bounded()
        self._budget_start = -float("inf")
        self._budget = 0

    def first(self, source: str, what: str) -> bool:
        now = self.clock()
        if now - self._budget_start >= self.window_s:
            self._budget_start, self._budget = now, 0
        window = self._windows.get((source, what))
        if window is None or (now - window.start >= self.window_s and window.extra == 0):
            if self._budget >= self.reported:
                self._windows.touch((MANY, what), lambda: _Window(now)).extra += 1
                return False
            self._budget += 1
            self._windows.pop((source, what), None)
            self._windows.touch((source, what), lambda: _Window(now))
            return True
        window.extra += 1
        return False

    def ended(self, *, every: bool = False) -> list[Count]:
        """Counts of the windows over (`every`: of all windows, at stop), forgotten."""
        now = self.clock()
        over = [
            key
            for key, window in self._windows.items()
            if every or now - window.start >= self.window_s
        ]
        counts = []
        for source, what in over:
            window = self._windows.pop((source, what))
            if window.extra:
                counts.append(Count(source, what, window.extra, self.window_s))
        return counts
