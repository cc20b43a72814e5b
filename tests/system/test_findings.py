"""Findings and the technical control's data, over real drivers (the inspection system's
OPC UA server, the PLC and readers on their simulators): a critical finding or a brake
efficiency below its limit fails the technical control with what decided journaled; a
typed finding not in the quality station's catalogue is refused and asked again; typed
findings survive a stop without being asked twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from asyncua.ua.uaerrors import UaStatusCodeError
from inspector_rig import Interface

from station.assembly import Assembly, Serve, assemble
from station.config.loader import load_station
from station.control import InvalidArgument
from station.journal import Event
from station.scenario import Scenario

STATIONS = Path(__file__).parent.parent.parent / "configs" / "stations"
FAST = 0.02
VIN = "WBA8E9C58GK100004"
WAIT_S = 30.0

Run = Callable[..., contextlib.AbstractAsyncContextManager[Assembly]]


def one_vehicle(**vehicle: object) -> Scenario:
    return Scenario.model_validate({"vehicles": [{"vin": VIN, **vehicle}]})


@pytest.fixture
def station(tmp_path: Path) -> Run:
    """A station on its simulators, fed one vehicle; the same state folder each time (a
    second one is the station restarted after the first was stopped)."""

    @contextlib.asynccontextmanager
    async def run(
        file: str, scenario: Scenario, serve: Serve | None = None
    ) -> AsyncIterator[Assembly]:
        loaded = load_station(STATIONS / file)
        async with assemble(
            loaded, tmp_path, simulate=True, scenario=scenario, time_scale=FAST, serve=serve
        ) as built:
            assert built.world is not None
            if built.server is not None:
                await built.server.serving()  # it comes up after the station
            yield built

    return run


def kinds(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


async def run_to_end(built: Assembly) -> list[Event]:
    assert built.world is not None
    await asyncio.wait_for(built.world.run(), WAIT_S)
    assert built.journal.verify().ok
    return built.journal.events()


async def test_a_critical_finding_fails_the_technical_control_whatever_the_verdict(
    station: Run,
) -> None:
    critical = {"code": "6.1.1", "severity": "critical", "text": "steering rack loose\x1b[2J"}
    minor = {"code": "1.1.2", "severity": "minor", "text": "x" * 5000}
    scenario = one_vehicle(findings={"technical-control": [[critical, minor]]})
    async with station("technical-control.yaml", scenario) as built:
        events = await run_to_end(built)
        assert built.world is not None and built.world.results == {VIN: "failed"}
    (finding,) = kinds(events, "finding")
    assert (finding.result, finding.operator, finding.vin) == ("fail", "inspection", VIN)
    assert finding.data["source"] == "device:inspection"
    assert finding.data["fail_on"] == ["major", "critical"] and finding.data["complete"]
    codes = [(f["code"], f["severity"]) for f in finding.data["findings"]]
    assert codes == [("6.1.1", "critical"), ("1.1.2", "minor")]
    # bounded before journaled: 200 characters, then how long it was
    assert finding.data["findings"][1]["text"] == "x" * 200 + "…[truncated: 5000 characters]"
    (verdict,) = kinds(events, "verdict")
    assert verdict.result == "pass"  # the device's word; the finding decides
    assert kinds(events, "released")[-1].result == "failed"
    # the measurements came with the verdict, nominal: within their limits; then the
    # noise read from its own node (tests/system/test_opcua_measure.py), nominal too
    measured, noise = kinds(events, "measured")
    assert measured.data["source"] == "device:inspection" and measured.result == "pass"
    assert (noise.step, noise.result) == ("7:measure", "pass")
    assert [v["name"] for v in measured.data["values"]] == [
        "brake_efficiency_pct",
        "headlamp_aim_pct",
        "co_idle_pct",
    ]


async def test_a_minor_finding_alone_passes(station: Run) -> None:
    minor = {"code": "1.1.2", "severity": "minor", "text": "wiper blade worn"}
    scenario = one_vehicle(findings={"technical-control": [[minor]]})
    async with station("technical-control.yaml", scenario) as built:
        events = await run_to_end(built)
        assert built.world is not None and built.world.results == {VIN: "passed"}
    assert kinds(events, "finding")[0].result == "pass"


async def test_brake_efficiency_below_its_limit_fails_with_the_limit_journaled(
    station: Run,
) -> None:
    scenario = one_vehicle(measurements={"technical-control": [{"brake_efficiency_pct": 42.4}]})
    async with station("technical-control.yaml", scenario) as built:
        events = await run_to_end(built)
        assert built.world is not None and built.world.results == {VIN: "failed"}
    measured, _noise = kinds(events, "measured")
    brake = measured.data["values"][0]
    assert brake == {
        "name": "brake_efficiency_pct",
        "value": 42.0,
        "unit": "%",
        "decimals": 0,
        "low": 50.0,
        "low_inclusive": True,
        "high": None,
        "high_inclusive": True,
        "ok": False,
    }
    assert (measured.result, measured.operator) == ("fail", "inspection")
    assert kinds(events, "verdict")[0].result == "pass"
    assert kinds(events, "released")[-1].result == "failed"


def held_back(built: Assembly, monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    """The simulated people give every answer but `answer` (of any kind)."""
    assert built.world is not None
    people = built.world.floor.people
    give = people._answer

    async def some(kind: str, value: str, who: tuple[str, str]) -> None:
        if answer not in (kind, value):
            await give(kind, value, who)

    monkeypatch.setattr(people, "_answer", some)


async def test_a_typed_finding_not_in_the_catalogue_is_refused_and_asked_again(
    station: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with station("quality.yaml", one_vehicle()) as built:
        assert built.world is not None
        held_back(built, monkeypatch, "finding")
        world = asyncio.create_task(built.world.run())
        prompts = built.station.prompts
        prompt = await prompts.wait_for("finding", WAIT_S)
        assert "none" in prompt.text and prompt.item == 0
        with pytest.raises(InvalidArgument, match=r"'9\.9\.9' is not in the catalogue"):
            await built.station.answer("finding", "9.9.9 scratched", "ines", "inspector")
        assert prompts.current is prompt and not prompt.future.done()  # still asked
        await built.station.answer("finding", "PNT-RUN left rear door", "ines", "inspector")
        prompt = await prompts.wait_for("finding", WAIT_S)
        assert prompt.item == 1 and "PNT-RUN (major) paint run or sag" in prompt.text
        await built.station.answer("finding", "none", "ines", "inspector")
        await asyncio.wait_for(world, WAIT_S)
        events = built.journal.events()
        assert built.world.results == {VIN: "failed"}  # a major finding, the verdict pass
    (refused,) = kinds(events, "refused")
    assert (refused.operator, refused.data["reason"]) == ("ines", "invalid_argument")
    typed, done = kinds(events, "finding")
    assert typed.data["findings"] == [
        {
            "code": "PNT-RUN",
            "severity": "major",
            "text": "paint run or sag",
            "note": "left rear door",
        }
    ]
    assert (typed.result, typed.operator, typed.data["complete"]) == ("fail", "ines", False)
    assert (done.data["findings"], done.data["complete"]) == ([], True)


async def test_an_inspector_types_findings_over_opc_ua(
    station: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """EnterFinding: a code not in the catalogue is BadInvalidArgument and asked again;
    a catalogue code is journaled with its severity; `none` ends the list."""
    interface = Interface(tmp_path)
    async with station("quality.yaml", one_vehicle(), interface.serve) as built:
        assert built.world is not None
        held_back(built, monkeypatch, "finding")
        world = asyncio.create_task(built.world.run())
        await built.station.prompts.wait_for("finding", WAIT_S)
        async with interface.inspector() as ines:
            with pytest.raises(UaStatusCodeError) as refused:
                await ines.call("EnterFinding", "9.9.9 scratched")
            await ines.call("EnterFinding", "PNT-RUN left rear door")
            await built.station.prompts.wait_for("finding", WAIT_S)
            await ines.call("EnterFinding", "none")
        await asyncio.wait_for(world, WAIT_S)
        events = built.journal.events()
    assert type(refused.value).__name__ == "BadInvalidArgument"
    typed, _ = kinds(events, "finding")
    assert typed.operator == "ines"
    assert [(f["code"], f["severity"]) for f in typed.data["findings"]] == [("PNT-RUN", "major")]


async def test_typed_findings_survive_a_stop_and_are_not_asked_twice(
    station: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = [{"code": "PNT-DUST"}, {"code": "BDY-GAP"}]
    scenario = one_vehicle(findings={"quality-control": [found]})
    async with station("quality.yaml", scenario) as built:
        assert built.world is not None
        world = asyncio.create_task(built.world.run())
        # the inspector types the first, then the station stops before the second
        held_back(built, monkeypatch, "BDY-GAP")
        prompts = built.station.prompts
        changed = asyncio.Event()
        built.station.on_change(changed.set)
        async with asyncio.timeout(WAIT_S):
            while (asked := prompts.current) is None or (asked.kind, asked.item) != ("finding", 1):
                changed.clear()
                await changed.wait()
        monkeypatch.undo()
        world.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await world
    async with station("quality.yaml", scenario) as again:
        visit = again.station.visit
        assert visit is not None
        assert [f["code"] for found in visit.findings.values() for f in found] == ["PNT-DUST"]
        events = await run_to_end(again)
        assert again.world is not None and again.world.results == {VIN: "passed"}  # minors
    typed = [f["code"] for e in kinds(events, "finding") for f in e.data["findings"]]
    assert typed == ["PNT-DUST", "BDY-GAP"]  # each once, across the restart
    assert kinds(events, "finding")[-1].data["complete"]
