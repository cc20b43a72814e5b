"""Throttling per client address (`station.interface.throttle`): pure logic, a clock
the test moves."""

from __future__ import annotations

from station.interface.throttle import MANY, MAX_SOURCES, Backoff, Count, RefusalWindows


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_free_wrong_passwords_then_a_wait_that_doubles_up_to_the_limit() -> None:
    clock = Clock()
    backoff = Backoff(free=3, base_s=1.0, max_s=4.0, clock=clock)
    waits = []
    for _ in range(6):
        waits.append(backoff.wait_s("10.0.0.9"))
        backoff.failed("10.0.0.9")
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0]
    assert backoff.wait_s("10.0.0.9") == 4.0  # capped
    assert backoff.wait_s("10.0.0.10") == 0.0  # another address is not affected
    clock.now += 4.0
    assert backoff.wait_s("10.0.0.9") == 0.0


def test_a_right_password_clears_the_address() -> None:
    backoff = Backoff(free=1, clock=Clock())
    backoff.failed("10.0.0.9")
    backoff.failed("10.0.0.9")
    assert backoff.wait_s("10.0.0.9") > 0
    backoff.succeeded("10.0.0.9")
    assert backoff.wait_s("10.0.0.9") == 0.0


def test_the_first_refusal_of_a_window_is_reported_the_others_counted() -> None:
    clock = Clock()
    windows = RefusalWindows(window_s=10.0, clock=clock)
    firsts = [windows.first("10.0.0.9", "call") for _ in range(5)]
    assert firsts == [True, False, False, False, False]
    assert windows.first("10.0.0.9", "login") is True  # each kind its own window
    assert windows.ended() == []  # not over yet
    clock.now += 10.0
    assert windows.ended() == [Count("10.0.0.9", "call", 4, 10.0)]
    assert windows.first("10.0.0.9", "call") is True  # a new window


def test_a_window_of_zero_reports_every_refusal() -> None:
    windows = RefusalWindows(window_s=0.0, clock=Clock())
    assert [windows.first("10.0.0.9", "call") for _ in range(3)] == [True, True, True]
    assert windows.ended(every=True) == []


def test_the_tables_are_bounded_against_a_flood_of_addresses() -> None:
    clock = Clock()
    backoff = Backoff(free=0, clock=clock)
    windows = RefusalWindows(clock=clock, reported=2 * MAX_SOURCES)
    for n in range(MAX_SOURCES + 100):
        backoff.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
        windows.first(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", "login")
    assert len(backoff._sources) == MAX_SOURCES
    assert len(windows._windows) == MAX_SOURCES
    assert backoff.wait_s("10.0.0.0") == 0.0  # the oldest forgotten first


def test_past_the_reported_sources_of_a_window_refusals_are_counted_together() -> None:
    clock = Clock()
    windows = RefusalWindows(window_s=10.0, clock=clock, reported=2)
    firsts = [windows.first(f"10.0.0.{n}", "login") for n in range(5)]
    assert firsts == [True, True, False, False, False]
    clock.now += 10.0
    assert windows.ended() == [Count(MANY, "login", 3, 10.0)]
    assert windows.first("10.0.0.4", "login") is True  # a new window, a new budget
