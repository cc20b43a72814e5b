"""The report's rows (station.plant.report_rows): the kinds the report reads, each with
its time in seconds and the one field of its data it needs; nothing for other kinds."""

from __future__ import annotations

from plant_rig import event

from station.journal import GENESIS_HASH
from station.plant.report_rows import COLUMNS, LINE, STATION, T, row_of, seconds

WALL = "2026-12-04T06:00:00.250000+00:00"


def test_a_row_holds_the_time_in_seconds_and_the_one_field_its_kind_needs() -> None:
    admitted = event("reception", 1, GENESIS_HASH, kind="admitted", vin="V1", wall=WALL,
                     data={"operation": "intake", "rework": False})  # fmt: skip
    row = row_of(admitted, "line-1")
    assert row == ("reception", 1, "admitted", "V1", None, seconds(WALL), "line-1", "intake")
    assert (row[STATION], row[T], row[LINE]) == ("reception", 1796364000.25, "line-1")
    assert [COLUMNS[i] for i in (STATION, T, LINE)] == ["station", "t", "line"]


def test_a_field_that_is_not_text_is_none_and_other_kinds_have_no_row() -> None:
    odd = event("reception", 2, GENESIS_HASH, kind="tag_write", wall=WALL, data={"tag": 7})
    assert row_of(odd, "line-1") == ("reception", 2, "tag_write", None, None,
                                     seconds(WALL), "line-1", None)  # fmt: skip
    step = event("reception", 3, GENESIS_HASH, kind="step_done", wall=WALL, data={"x": "y"})
    assert row_of(step, "line-1") is None


def test_a_wall_time_reads_the_same_with_z_an_offset_or_none() -> None:
    utc = seconds("2026-12-04T06:00:00Z")
    assert seconds("2026-12-04T07:00:00+01:00") == utc
    assert seconds("2026-12-04T06:00:00") == utc
