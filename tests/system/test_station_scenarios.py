"""One station at a time, over the real drivers and the simulators (real
Modbus TCP, a real pty for the barcode reader, TCP for the RFID head, a real
OPC UA server for the inspection system), driven by scenarios: what the
station journals is what the line engineer would see."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from station import tag as tagfmt
from station.assembly import assemble
from station.config.loader import LoadedStation, load_station
from station.journal import Event
from station.route import Found, complete, next_operation
from station.runtime import Station
from station.scenario import Scenario
from station.simulation.devices import SimulatedDevices
from station.simulation.floor import tag_uid
from station.simulation.world import StationWorld

STATIONS = Path(__file__).parent.parent.parent / "configs" / "stations"
FAST = 0.02
VIN = "VF1RFB00X66123456"


@dataclass
class Run:
    station: Station
    sims: SimulatedDevices
    world: StationWorld

    @property
    def events(self) -> list[Event]:
        return self.station.journal.events()

    def kinds(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def tag(self, vin: str) -> tagfmt.Progress:  # type: ignore[name-defined]
        return tagfmt.decode(self.sims.tags.memory(tag_uid(vin)), self.station.route)


RunScenario = Callable[..., "asyncio.Future[Run]"]


@pytest.fixture
async def run_scenario(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Run a scenario at a station to the end; the fixture tears everything down."""
    async with contextlib.AsyncExitStack() as stack:

        async def run(station_file: str, scenario: dict[str, object], timeout: float = 30) -> Run:
            loaded: LoadedStation = load_station(STATIONS / station_file)
            plan = Scenario.model_validate(scenario)
            built = await stack.enter_async_context(
                assemble(loaded, tmp_path, simulate=True, scenario=plan, time_scale=FAST)
            )
            assert built.sims is not None and built.world is not None
            async with asyncio.timeout(timeout):
                await built.world.run()
            assert built.journal.verify().ok
            return Run(built.station, built.sims, built.world)

        yield run


def one_vehicle(
    vin: str = VIN,
    *,
    fault: dict[str, object] | None = None,
    verdicts: dict[str, list[str]] | None = None,
    misrouted_after: str | None = None,
) -> dict[str, object]:
    """A scenario of one vehicle: with a fault, with verdicts, or presented at the photo
    studio once it has done `misrouted_after`."""
    vehicle: dict[str, object] = {"vin": vin}
    if fault is not None:
        vehicle["faults"] = [fault]
    if verdicts is not None:
        vehicle["verdicts"] = verdicts
    scenario: dict[str, object] = {"vehicles": [vehicle]}
    if misrouted_after is not None:
        scenario["misroutes"] = [{"vin": vin, "station": "photo-studio", "after": misrouted_after}]
    return scenario


def released_once(run: Run) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in run.kinds("released"):
        assert event.vin is not None
        counts[event.vin] = counts.get(event.vin, 0) + 1
    return counts


async def test_normal_cycle_at_the_photo_studio(run_scenario: Callable[..., object]) -> None:
    run: Run = await run_scenario("photo-studio.yaml", one_vehicle())
    assert run.world.results == {VIN: "passed"}
    session = run.kinds("photo_session")[-1]
    assert session.result == "complete" and session.data["shots"] == 48
    manifest = session.data["manifest"]
    assert {image["shot"] for image in manifest} == set(range(36))
    images = run.sims.cameras["cameras"].images
    assert all(images[i["name"]] and i["sha256"] and i["problem"] is None for i in manifest)
    progress = run.tag(VIN)
    assert "photo" in progress.done
    nxt = next_operation(run.station.route, progress)
    assert nxt is not None and nxt.operation == "quality-control"
    assert released_once(run) == {VIN: 1}
    assert run.sims.cameras["cameras"].triggers == 36


async def test_outputs_are_journaled_before_they_are_written(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario("photo-studio.yaml", one_vehicle())
    journaled = [
        (e.mono_ns / 1e9, name)
        for e in run.kinds("outputs")
        for name, value in e.data.items()
        if value == 1
    ]
    for write in run.sims.plcs["plc"].writes:
        if write.name in ("entry_gate_open", "exit_gate_open") and write.value == 1:
            assert any(t < write.at and n == write.name for t, n in journaled), write


async def test_turning_back_vehicle_is_held_with_the_violation_journaled(
    run_scenario: Callable[..., object],
) -> None:
    vin = "WBA8E9C50GK000777"
    run: Run = await run_scenario(
        "photo-studio.yaml", one_vehicle(vin, misrouted_after="quality-control")
    )
    (violation,) = run.kinds("violation")
    assert violation.result == "turning_back"
    assert (violation.data["expected"], violation.data["found"]) == ("exit", "photo")
    assert run.world.results == {vin: "held"}
    assert released_once(run) == {}
    assert any(e.result == f"turning_back:{vin}" for e in run.kinds("alarm_raised"))


async def test_skipped_gate_is_held(run_scenario: Callable[..., object]) -> None:
    run: Run = await run_scenario("photo-studio.yaml", one_vehicle(misrouted_after="cleaning"))
    (violation,) = run.kinds("violation")
    assert violation.result == "skipped_gate"
    assert violation.data["expected"] == "technical-control"
    assert run.world.results == {VIN: "held"}


async def test_barcode_and_tag_disagree_the_vehicle_is_held(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario(
        "photo-studio.yaml",
        one_vehicle(fault={"station": "photo-studio", "kind": "label_mismatch"}),
    )
    (hold,) = run.kinds("hold")
    assert hold.result == "id_mismatch"
    assert hold.data["expected"] == VIN and hold.data["found"] == "VF1RFB00X66123457"
    assert run.world.results == {VIN: "held"}


async def test_noread_then_manual_vin_by_an_operator(run_scenario: Callable[..., object]) -> None:
    run: Run = await run_scenario(
        "reception.yaml",
        one_vehicle(fault={"station": "reception", "kind": "barcode_noread", "count": 3}),
    )
    assert len(run.kinds("noread")) == 3
    (manual,) = run.kinds("manual_vin")
    assert manual.vin == VIN and manual.operator == "sim-operator"
    assert run.world.results == {VIN: "passed"}
    progress = run.tag(VIN)
    assert progress.done == ("intake",)


async def test_plc_link_dropped_mid_cycle_then_resumed_after_reset(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario(
        "photo-studio.yaml",
        one_vehicle(fault={"station": "photo-studio", "kind": "plc_link_drop", "seconds": 1.0}),
    )
    states = [e.result for e in run.kinds("state")]
    assert "Aborted" in states and states[-1] == "Execute"
    assert any(e.result == "link:plc" for e in run.kinds("alarm_raised"))
    assert any(e.result == "link:plc" for e in run.kinds("alarm_cleared"))
    assert run.world.results == {VIN: "passed"}
    assert released_once(run) == {VIN: 1}


async def test_turntable_stall_aborts_and_the_session_is_retaken(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario(
        "photo-studio.yaml",
        one_vehicle(fault={"station": "photo-studio", "kind": "turntable_stall", "at_deg": 95}),
    )
    sessions = run.kinds("photo_session")
    assert [s.result for s in sessions] == ["incomplete", "complete"]
    assert sessions[0].data["fault"]["kind"] == "stall"
    assert "Aborted" in [e.result for e in run.kinds("state")]
    assert released_once(run) == {VIN: 1}


async def test_a_silent_camera_is_named_and_the_rotation_taken_again(
    run_scenario: Callable[..., object],
) -> None:
    fault = {"station": "photo-studio", "kind": "camera_silent", "camera": "interior"}
    run: Run = await run_scenario("photo-studio.yaml", one_vehicle(fault=fault))
    sessions = run.kinds("photo_session")
    assert [s.result for s in sessions] == ["incomplete", "complete"]
    missed = [(i["shot"], i["camera"], i["problem"]) for i in sessions[0].data["manifest"]]
    assert [m for m in missed if m[2]] == [(0, "interior", "no_report")]
    assert sessions[0].data["fault"] is None and sessions[1].data["rotation"] == 2
    assert run.world.results == {VIN: "passed"}
    assert "Aborted" not in [e.result for e in run.kinds("state")]


async def test_failed_gate_sends_the_vehicle_to_rework(run_scenario: Callable[..., object]) -> None:
    run: Run = await run_scenario(
        "technical-control.yaml",
        one_vehicle(verdicts={"technical-control": ["fail"]}),
        timeout=60,
    )
    (verdict,) = run.kinds("verdict")
    assert verdict.result == "fail" and verdict.operator == "inspection"
    assert run.world.results == {VIN: "failed"}
    progress = run.tag(VIN)
    assert progress.failed_gate == "technical-control"
    nxt = next_operation(run.station.route, progress)
    assert nxt is not None and nxt.operation == "rework"


async def test_tag_write_failing_holds_then_a_retry_writes_the_same_content(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario(
        "photo-studio.yaml",
        one_vehicle(fault={"station": "photo-studio", "kind": "rfid_write_fail", "count": 3}),
    )
    (hold,) = run.kinds("hold")
    assert hold.result == "tag_write_failed"
    intents = {e.data["tag"] for e in run.kinds("tag_write")}
    assert len(intents) == 1, "the tag is never written with two different contents"
    assert run.sims.tags.memory(tag_uid(VIN)).hex() == intents.pop()
    assert released_once(run) == {VIN: 1}


# --- the battery qualification: a gate that decides on data --------------------------

EV = "VF1AG000X66123456"


def ev(measurements: list[dict[str, float]] | None = None, **vehicle: object) -> dict[str, object]:
    """A scenario of one EV at the battery qualification, measured as given per visit."""
    given = {"battery-qualification": measurements} if measurements else {}
    return {"vehicles": [{"vin": EV, "ev": True, "measurements": given, **vehicle}]}


def measured(run: Run) -> dict[str, dict[str, object]]:
    """Every journaled value of the run by quantity name (the last one of each)."""
    return {v["name"]: v for e in run.kinds("measured") for v in e.data["values"]}


async def test_soh_below_its_limit_fails_the_battery_gate_with_the_limits_journaled(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario("battery.yaml", ev([{"soh_pct": 64.04}]))
    assert run.world.results == {EV: "failed"}
    soh = measured(run)["soh_pct"]
    assert soh == {
        "name": "soh_pct",
        "value": 64.0,
        "unit": "%",
        "decimals": 1,
        "low": 70.0,
        "low_inclusive": True,
        "high": None,
        "high_inclusive": True,
        "ok": False,
    }
    reading = next(e for e in run.kinds("measured") if e.data["source"] == "device:tester")
    assert (reading.result, reading.operator, reading.vin) == ("fail", "tester", EV)
    assert {v["name"] for v in reading.data["values"]} == {
        "soh_pct",
        "usable_capacity_kwh",
        "insulation_ohm_per_v",
        "cell_spread_mv",
    }
    typed = next(e for e in run.kinds("measured") if e.data["source"] == "typed")
    assert (typed.result, typed.operator) == ("pass", "sim-inspector")
    assert run.sims.testers["tester"].starts == 1
    # the inspector's pass does not pass a vehicle the limits fail
    assert run.kinds("verdict")[-1].result == "pass"
    assert run.kinds("released")[-1].result == "failed"
    assert "battery-qualification" not in run.tag(EV).gates_passed


async def test_every_value_within_its_limits_passes_the_gate(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario(
        "battery.yaml",
        ev([{"soh_pct": 70.0, "insulation_ohm_per_v": 500, "cell_spread_mv": 50, "soc_pct": 55}]),
    )
    assert run.world.results == {EV: "passed"}
    values = measured(run)
    assert all(v["ok"] for v in values.values()), values
    assert (values["soh_pct"]["value"], values["cell_spread_mv"]["value"]) == (70.0, 50.0)
    assert values["soc_pct"]["value"] == 55.0


@pytest.mark.parametrize(
    ("fault", "held", "starts"),
    [
        ({"kind": "tester_no_ready", "count": 1}, "measurement_timeout", 2),
        ({"kind": "tester_out_of_range", "count": 1}, "measurement_out_of_range", 2),
    ],
)
async def test_a_tester_fault_holds_the_vehicle_and_a_retry_measures_again(
    run_scenario: Callable[..., object], fault: dict[str, object], held: str, starts: int
) -> None:
    run: Run = await run_scenario(
        "battery.yaml", ev(faults=[{"station": "battery", **fault}]), timeout=60
    )
    (hold,) = run.kinds("hold")
    assert hold.result == held and "tester" in hold.data["message"]
    assert run.sims.testers["tester"].starts == starts
    assert len([e for e in run.kinds("measured") if e.data["source"] == "device:tester"]) == 1
    assert run.world.results == {EV: "passed"}


async def test_tester_link_lost_mid_measurement_aborts_then_measures_again(
    run_scenario: Callable[..., object],
) -> None:
    run: Run = await run_scenario(
        "battery.yaml",
        ev(faults=[{"station": "battery", "kind": "tester_link_drop", "seconds": 1.0}]),
        timeout=60,
    )
    (fault,) = run.kinds("fault")
    assert fault.result == "link_lost" and "tester" in fault.data["message"]
    assert run.sims.testers["tester"].starts == 2
    assert len([e for e in run.kinds("measured") if e.data["source"] == "device:tester"]) == 1
    assert run.world.results == {EV: "passed"}


FOUND_VIN = "VF1RFB00X66100001"
BODY_DAMAGE = {"diagnosis": {"needs_bodywork": True}}


async def test_diagnosis_finds_body_damage_journals_it_and_writes_it_on_the_tag(
    run_scenario: Callable[..., object],
) -> None:
    """Its operator answers yes for the damaged vehicle, no for the other: each answer
    journaled once; the found one goes on the tag (layout 2, diagnosis its finder)."""
    scenario = {"vehicles": [{"vin": FOUND_VIN, "found": BODY_DAMAGE}, {"vin": VIN}]}
    run: Run = await run_scenario("diagnosis.yaml", scenario)
    assert run.world.results == {FOUND_VIN: "passed", VIN: "passed"}
    answers = [
        (e.vin, e.result, e.operator, e.data["attribute"]) for e in run.kinds("attribute_found")
    ]
    assert answers == [
        (FOUND_VIN, "found", "sim-operator", "needs_bodywork"),
        (VIN, "not_found", "sim-operator", "needs_bodywork"),
    ]
    route = run.station.route
    damaged = run.tag(FOUND_VIN)
    assert damaged.found == (Found("needs_bodywork", True, "diagnosis"),)
    assert damaged.attributes == frozenset() and damaged.done == ("intake", "diagnosis")
    assert run.sims.tags.memory(tag_uid(FOUND_VIN))[2] == 2  # layout version 2
    after = complete(route, damaged, "electromechanics", "passed")
    assert next_operation(route, after) == route.find("bodywork")
    plain = run.tag(VIN)
    assert plain.found == () and run.sims.tags.memory(tag_uid(VIN))[2] == 1
    assert next_operation(route, complete(route, plain, "electromechanics", "passed")) == (
        route.find("cleaning")
    )


async def test_body_damage_found_upstream_is_admitted_at_body_paint(
    run_scenario: Callable[..., object],
) -> None:
    """Not flagged at intake, found at diagnosis: body-paint admits it."""
    vehicle = {"vin": FOUND_VIN, "found": BODY_DAMAGE}
    body: Run = await run_scenario("body-paint.yaml", {"vehicles": [vehicle]})
    assert body.world.results == {FOUND_VIN: "passed"}
    (admitted,) = body.kinds("admitted")
    assert admitted.data["operation"] == "bodywork"
    assert body.tag(FOUND_VIN).done[-2:] == ("electromechanics", "bodywork")


async def test_body_damage_found_upstream_then_cleaning_before_bodywork_is_refused(
    run_scenario: Callable[..., object],
) -> None:
    """Presented at cleaning (due before the diagnosis found the damage) before bodywork:
    refused as a skipped operation, and held."""
    vehicle = {"vin": FOUND_VIN, "found": BODY_DAMAGE}
    misrouted = {
        "vehicles": [vehicle],
        "misroutes": [{"vin": FOUND_VIN, "station": "cleaning", "after": "electromechanics"}],
    }
    cleaning: Run = await run_scenario("cleaning.yaml", misrouted)
    assert cleaning.world.results == {FOUND_VIN: "held"}
    (violation,) = cleaning.kinds("violation")
    assert (violation.result, violation.data["expected"], violation.data["found"]) == (
        "skipped_operation",
        "bodywork",
        "cleaning",
    )
    assert cleaning.tag(FOUND_VIN).done[-1] == "electromechanics", "nothing written"
