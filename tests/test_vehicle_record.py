"""The vehicle record: random event sequences checked against its transition
table written out here independently of `station.vehicle`, and the journal
round trip (to_dict -> JSON -> from_dict) after every step."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from station.vehicle import IllegalVehicleTransition, VehicleRecord, VehicleState

VIN = "VF1RFB00X66123456"
T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)

TABLE: dict[str, dict[str, str]] = {
    "queued": {"enter": "in_station"},
    "in_station": {
        "advance_step": "in_station",
        "mark_passed": "passed",
        "mark_failed": "failed",
        "hold": "held",
    },
    "held": {"clear_hold": "in_station", "dispose": "released"},
    "passed": {"release": "released"},
    "failed": {"release": "released"},
    "released": {},
}
"""state -> {event: next state}; advance_step keeps the state and moves the step."""

WITH_REASON = {"mark_failed", "hold", "clear_hold", "dispose"}
EVENTS = sorted({event for row in TABLE.values() for event in row})


def apply(record: VehicleRecord, event: str, at: datetime) -> None:
    if event == "advance_step":
        record.advance_step()
    elif event in WITH_REASON:
        getattr(record, event)(f"{event} because", at=at)
    else:
        getattr(record, event)(at=at)


def round_trip(record: VehicleRecord) -> VehicleRecord:
    return VehicleRecord.from_dict(json.loads(json.dumps(record.to_dict())))


offsets = st.timedeltas(min_value=timedelta(hours=-12), max_value=timedelta(hours=14)).map(
    lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1)))
)
wall_times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=offsets
)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.tuples(st.sampled_from(EVENTS), wall_times), max_size=20))
def test_random_events_follow_the_table_and_survive_the_journal(
    events: list[tuple[str, datetime]],
) -> None:
    record = VehicleRecord.queue(VIN, "photo-studio", at=T0)
    for event, at in events:
        before = record.to_dict()
        row = TABLE[record.state]
        if event not in row:
            with pytest.raises(IllegalVehicleTransition) as refused:
                apply(record, event, at)
            assert record.to_dict() == before
            assert f"cannot {event} when {before['state']}" in str(refused.value)
        else:
            apply(record, event, at)
            assert record.state == row[event]
            if event == "advance_step":
                assert record.step == before["step"] + 1
                assert record.timestamps == VehicleRecord.from_dict(before).timestamps
            else:
                assert record.step == before["step"]
                assert record.timestamps[record.state] == at
                assert record.reason == (f"{event} because" if event in WITH_REASON else "")
        restored = round_trip(record)
        assert restored == record
        assert restored.to_dict() == record.to_dict()


def test_a_full_cycle_with_a_cleared_hold_runs_the_held_step_again() -> None:
    record = VehicleRecord.queue(VIN, "photo-studio", at=T0)
    record.enter(at=T0 + timedelta(seconds=1))
    assert record.advance_step() == 1
    record.hold("barcode and tag VIN differ", at=T0 + timedelta(seconds=2))
    record.clear_hold("VIN entered by operator 17", at=T0 + timedelta(seconds=30))
    assert (record.state, record.step) == (VehicleState.IN_STATION, 1)
    record.mark_passed(at=T0 + timedelta(seconds=40))
    record.release(at=T0 + timedelta(seconds=41))
    assert record.to_dict() == {
        "vin": VIN,
        "operation": "photo-studio",
        "state": "released",
        "step": 1,
        "timestamps": {
            "queued": "2025-03-04T08:00:00Z",
            "in_station": "2025-03-04T08:00:30Z",
            "held": "2025-03-04T08:00:02Z",
            "passed": "2025-03-04T08:00:40Z",
            "released": "2025-03-04T08:00:41Z",
        },
        "reason": "",
    }


def test_an_illegal_transition_names_the_vehicle_the_event_and_what_the_state_takes() -> None:
    record = VehicleRecord.queue(VIN, "photo-studio", at=T0)
    record.enter(at=T0)
    record.hold("turning back: expected step 30, found 20", at=T0)
    with pytest.raises(IllegalVehicleTransition) as refused:
        record.release(at=T0)
    assert str(refused.value) == (
        f"vehicle {VIN}: cannot release when held; held takes: clear_hold, dispose"
    )
    record.dispose("sent back to step 20 by supervisor", at=T0)
    assert record.state is VehicleState.RELEASED
    assert record.reason == "sent back to step 20 by supervisor"


def test_a_failed_vehicle_is_released_to_rework() -> None:
    record = VehicleRecord.queue(VIN, "technical-control", at=T0)
    record.enter(at=T0)
    record.mark_failed("brakes below limit", at=T0)
    record.release(at=T0)
    assert record.state is VehicleState.RELEASED


def test_advancing_a_step_outside_the_station_is_refused() -> None:
    record = VehicleRecord.queue(VIN, "photo-studio", at=T0)
    with pytest.raises(IllegalVehicleTransition, match="cannot advance_step when queued"):
        record.advance_step()
    assert record.step == 0


def test_a_transition_needs_an_aware_time_and_a_reason_where_one_is_due() -> None:
    record = VehicleRecord.queue(VIN, "photo-studio", at=T0)
    with pytest.raises(ValueError, match="has no time zone"):
        record.enter(at=datetime(2025, 3, 4, 8, 0))
    assert record.state is VehicleState.QUEUED
    record.enter(at=T0)
    with pytest.raises(ValueError, match="a reason is required"):
        record.hold("  ", at=T0)
    assert record.state is VehicleState.IN_STATION


def test_a_transition_without_a_time_stamps_the_current_wall_time() -> None:
    before = datetime.now(UTC)
    record = VehicleRecord.queue(VIN, "photo-studio")
    record.enter()
    assert before <= record.timestamps[VehicleState.QUEUED]
    assert record.timestamps[VehicleState.QUEUED] <= record.timestamps[VehicleState.IN_STATION]
    assert record.timestamps[VehicleState.IN_STATION] <= datetime.now(UTC)


def test_a_malformed_vin_is_refused_at_queueing() -> None:
    with pytest.raises(ValidationError, match="vin"):
        VehicleRecord.queue("VF1RFB00X6612345O", "photo-studio", at=T0)


GOOD: dict[str, Any] = {
    "vin": VIN,
    "operation": "photo-studio",
    "state": "in_station",
    "step": 2,
    "timestamps": {"queued": "2025-03-04T08:00:00Z", "in_station": "2025-03-04T08:00:05+01:00"},
    "reason": "",
}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"extra": 1}, "extra", "Extra inputs are not permitted"),
        ({"vin": None}, "vin", "Field required"),
        ({"vin": "VF1RFB00X6612345"}, "vin", "String should match pattern"),
        ({"operation": "Photo Studio"}, "operation", "String should match pattern"),
        ({"state": "parked"}, "state", "Input should be 'queued'"),
        ({"step": -1}, "step", "greater than or equal to 0"),
        ({"step": "2"}, "step", "Input should be a valid integer"),
        (
            {"timestamps": {"queued": "2025-03-04T08:00:00Z"}},
            "timestamps",
            "no entry for the current state in_station",
        ),
        (
            {"timestamps": {"in_station": "2025-03-04T08:00:00"}},
            "timestamps",
            "should have timezone info",
        ),
    ],
)
def test_from_dict_refuses_a_bad_record_naming_the_field(
    change: dict[str, Any], field: str, message: str
) -> None:
    assert VehicleRecord.from_dict(GOOD).state is VehicleState.IN_STATION
    data = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    with pytest.raises(ValidationError) as refused:
        VehicleRecord.from_dict(data)
    assert field in str(refused.value)
    assert message in str(refused.value)
