"""A measure step reading an OPC UA node: the technical control's stationary noise, read
from the inspection system's `noise` node (the real asyncua simulator serving it as a
measurement node, its value the scenario's for the visit), judged against its limit and
journaled as one `measured` event of source `device:inspection`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from station.assembly import assemble
from station.config.loader import load_station
from station.journal import Event
from station.scenario import Scenario

STATION = Path(__file__).parent.parent.parent / "configs" / "stations" / "technical-control.yaml"
FAST = 0.02
VIN = "WBA8E9C58GK100004"
WAIT_S = 30.0


async def run_one(
    tmp_path: Path, noise_db: float, faults: list[dict[str, Any]] | None = None
) -> tuple[str, list[Event]]:
    """One vehicle through the technical control with this noise reading (and these
    faults): its result and the journal's events."""
    measurements = {"technical-control": [{"noise_db": noise_db}]}
    vehicle = {"vin": VIN, "measurements": measurements, "faults": faults or []}
    scenario = Scenario.model_validate({"vehicles": [vehicle]})
    loaded = load_station(STATION)
    async with assemble(
        loaded, tmp_path, simulate=True, scenario=scenario, time_scale=FAST
    ) as built:
        assert built.world is not None
        await asyncio.wait_for(built.world.run(), WAIT_S)
        assert built.journal.verify().ok
        return built.world.results[VIN], built.journal.events()


def noise_measured(events: list[Event]) -> Event:
    (event,) = [e for e in events if e.kind == "measured" and e.step.endswith(":measure")]
    return event


def noise_value(value: float, ok: bool) -> dict[str, Any]:
    return {
        "name": "noise_db",
        "value": value,
        "unit": "dB(A)",
        "decimals": 0,
        "low": None,
        "low_inclusive": True,
        "high": 90.0,
        "high_inclusive": True,
        "ok": ok,
    }


async def test_a_node_value_over_its_limit_fails_the_technical_control(tmp_path: Path) -> None:
    result, events = await run_one(tmp_path, 94.6)
    assert result == "failed"
    measured = noise_measured(events)
    assert (measured.vin, measured.result, measured.operator) == (VIN, "fail", "inspection")
    assert measured.data == {"source": "device:inspection", "values": [noise_value(95.0, False)]}
    # the inspection's own verdict and result document passed: the node's value decides
    assert [e.result for e in events if e.kind == "verdict"] == ["pass"]
    assert [e.result for e in events if e.kind == "measured"] == ["pass", "fail"]
    assert [e for e in events if e.kind == "released"][-1].result == "failed"


async def test_a_node_value_within_its_limit_passes(tmp_path: Path) -> None:
    result, events = await run_one(tmp_path, 88.4)
    assert result == "passed"
    measured = noise_measured(events)
    assert (measured.result, measured.operator) == ("pass", "inspection")
    assert measured.data == {"source": "device:inspection", "values": [noise_value(88.0, True)]}


async def test_a_bad_status_holds_the_vehicle_and_a_retry_reads_again(tmp_path: Path) -> None:
    """The node's read answered BadSensorFailure: held (the device is wrong, not the
    vehicle), nothing journaled of it; the supervisor's retry reads it again."""
    fault = {"station": "technical-control", "kind": "inspection_bad_measurement"}
    result, events = await run_one(tmp_path, 70.0, [fault])
    (hold,) = [e for e in events if e.kind == "hold"]
    assert hold.result == "measurement_bad_status"
    assert "BadSensorFailure" in hold.data["message"] and "noise_db" in hold.data["message"]
    measured = noise_measured(events)  # once, after the retry
    assert measured.data["values"] == [noise_value(70.0, True)]
    assert result == "passed"
