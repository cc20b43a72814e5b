"""Throughput per shift (`station.plant.lines.per_shift`): a shift runs until the next
one's start, the last past midnight; local time with its clock changes."""

from __future__ import annotations

from datetime import UTC, datetime

from station.plant.lines import DEFAULT_SHIFTS, per_shift


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_the_night_shift_runs_past_midnight() -> None:
    released = [at("2026-03-02T23:30"), at("2026-03-03T05:59"), at("2026-03-03T06:00")]
    day = per_shift(released, at("2026-03-02T06:00"), at("2026-03-03T06:00"),
                    timezone="UTC", target_per_day=45)  # fmt: skip
    assert [(s["shift"], s["released"], s["covered_h"]) for s in day] == [
        ("morning", 0, 8.0),
        ("afternoon", 0, 8.0),
        ("night", 2, 8.0),
    ], "06:00 the next day is outside the window"
    assert {s["target_per_shift"] for s in day} == {15.0}
    assert day[2]["per_shift"] == 2.0


def test_a_clock_change_makes_a_shift_longer() -> None:
    """Paris goes back from 03:00 to 02:00 on 2026-10-25: that night lasts 9 hours."""
    window = (at("2026-10-24T20:00"), at("2026-10-25T05:00"))  # 22:00 .. 06:00 local
    (night,) = [
        s for s in per_shift([], *window, timezone="Europe/Paris", target_per_day=24)
        if s["shift"] == "night"
    ]  # fmt: skip
    assert (night["hours"], night["covered_h"], night["target_per_shift"]) == (9.0, 9.0, 9.0)


def test_a_shift_the_window_does_not_reach_has_no_rate() -> None:
    shifts = per_shift([], at("2026-03-02T06:00"), at("2026-03-02T07:00"),
                       shifts=DEFAULT_SHIFTS, timezone="UTC", target_per_day=45)  # fmt: skip
    assert [s["per_shift"] for s in shifts] == [0.0, None, None]
    assert [s["hours"] for s in shifts] == [8.0, 8.0, 8.0]
