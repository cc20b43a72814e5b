"""The battery tester over real Modbus TCP (driver against simulator on a free port), and
the measure step around it at the battery qualification: typed values refused outside
their physical range, and a station stopped mid-measurement that resumes without
measuring or asking twice what the journal holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from asyncua.ua.uaerrors import UaStatusCodeError
from inspector_rig import Interface

from hal.config import ModbusBatteryTesterConfig, ValueRegister
from hal.errors import LinkDown, MeasurementFailed
from hal.modbus.battery_tester import ModbusBatteryTester
from simulators.battery_tester import DropMidMeasurement, NoReady, OutOfRange, SimBatteryTester
from station.assembly import Assembly, Serve, assemble
from station.config.loader import load_station
from station.control import OutOfRange as Refused
from station.journal import Event
from station.scenario import Scenario

STATIONS = Path(__file__).parent.parent.parent / "configs" / "stations"
FAST = 0.02
EV = "VF1AG000X66123456"
WAIT_S = 20.0


def battery_tester_config() -> ModbusBatteryTesterConfig:
    config = load_station(STATIONS / "battery.yaml").model.devices["tester"]
    assert isinstance(config, ModbusBatteryTesterConfig)
    registers = {
        **config.registers,
        "temp": ValueRegister(address=6, data_type="int16", scale=0.1),
        "power": ValueRegister(address=8, data_type="float32", word_order="low_first"),
    }
    return config.model_copy(update={"registers": registers, "host": "127.0.0.1"})


@pytest.fixture
async def rig() -> AsyncIterator[tuple[SimBatteryTester, ModbusBatteryTester]]:
    config = battery_tester_config()
    sim = SimBatteryTester(config, time_scale=FAST)
    await sim.start()
    driver = ModbusBatteryTester("tester", config.model_copy(update=sim.endpoint_update()))
    await driver.start()
    try:
        await driver.link.wait_up(5.0)
        yield sim, driver
    finally:
        await driver.stop()
        await sim.stop()


ALL = ["soh", "capacity", "insulation", "cell_spread", "temp", "power"]


async def test_a_measurement_reads_every_register_scaled_after_its_data_type(
    rig: tuple[SimBatteryTester, ModbusBatteryTester],
) -> None:
    sim, driver = rig
    given = {
        "soh": 81.5,
        "capacity": 52.37,
        "insulation": 123456.0,
        "cell_spread": 12.0,
        "temp": -12.5,
        "power": 1.25,
    }
    sim.set_values(given)
    values = await driver.measure(ALL, timeout=2.0)
    assert values == pytest.approx(given)
    assert sim.starts == 1 and sim.ready
    sim.set_values({**given, "soh": 64.0})
    assert (await driver.measure(["soh"], timeout=2.0)) == pytest.approx({"soh": 64.0})
    assert sim.starts == 2  # every measurement is a new start, never the old ready bit


async def test_no_ready_bit_fails_the_measurement_within_its_timeout(
    rig: tuple[SimBatteryTester, ModbusBatteryTester],
) -> None:
    sim, driver = rig
    sim.inject(NoReady(1))
    with pytest.raises(MeasurementFailed, match=r"no ready bit within 0\.3 s"):
        await driver.measure(["soh"], timeout=0.3)
    assert (await driver.measure(["soh"], timeout=2.0)) == {"soh": 0.0}


async def test_an_out_of_range_fault_reads_the_largest_raw_values(
    rig: tuple[SimBatteryTester, ModbusBatteryTester],
) -> None:
    sim, driver = rig
    sim.inject(OutOfRange(1))
    values = await driver.measure(["soh", "insulation", "temp"], timeout=2.0)
    assert values == pytest.approx({"soh": 6553.5, "insulation": 4294967295.0, "temp": 3276.7})


async def test_link_dropped_mid_measurement_raises_link_down_then_recovers(
    rig: tuple[SimBatteryTester, ModbusBatteryTester],
) -> None:
    sim, driver = rig
    sim.inject(DropMidMeasurement(0.5))
    with pytest.raises(LinkDown, match="tester"):
        await driver.measure(["soh"], timeout=5.0)
    await driver.link.wait_up(5.0)
    sim.set_values({"soh": 90.0})
    assert (await driver.measure(["soh"], timeout=2.0)) == pytest.approx({"soh": 90.0})


# --- the measure step at the battery qualification ---------------------------------------


def one_ev(**vehicle: object) -> Scenario:
    return Scenario.model_validate({"vehicles": [{"vin": EV, "ev": True, **vehicle}]})


Run = Callable[..., contextlib.AbstractAsyncContextManager[Assembly]]


@pytest.fixture
def station(tmp_path: Path) -> Run:
    """The battery station on its simulators, fed one EV; the same state folder each time
    (a second one is the station restarted after the first was stopped)."""

    @contextlib.asynccontextmanager
    async def run(
        scenario: Scenario, *, inspector: bool = True, serve: Serve | None = None
    ) -> AsyncIterator[Assembly]:
        loaded = load_station(STATIONS / "battery.yaml")
        async with assemble(
            loaded, tmp_path, simulate=True, scenario=scenario, time_scale=FAST, serve=serve
        ) as built:
            assert built.world is not None
            if built.server is not None:
                await built.server.serving()  # it comes up after the station
            if not inspector:  # the test types the values
                built.world.floor.people.measured = lambda name: None
            yield built

    return run


def measured(events: list[Event], source: str) -> list[Event]:
    return [e for e in events if e.kind == "measured" and e.data["source"] == source]


async def crash(world: asyncio.Task[None]) -> None:
    """The world stops; leaving the assembly then stops the station with its vehicle in it."""
    world.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await world


@dataclass
class Restarted:
    restored: dict[str, bool]
    """What the restored visit held of the measure step (quantity -> within limits)."""
    events: list[Event]
    starts: int
    """Measurements the tester was started for after the restart."""
    results: dict[str, str]


async def restart(station: Run) -> Restarted:
    """The station started again on the same journal, its vehicle run to the end; nobody
    types a value (a typed value asked again would never be answered)."""
    async with station(one_ev(), inspector=False) as again:
        assert again.world is not None and again.sims is not None
        visit = again.station.visit
        assert visit is not None
        cycle = again.station.config.model.cycle
        step = next(i for i, s in enumerate(cycle) if s.step == "measure")
        restored = dict(visit.measured.get(step, {}))
        await asyncio.wait_for(again.world.run(), WAIT_S)
        starts = again.sims.testers["tester"].starts
        return Restarted(restored, again.journal.events(), starts, again.world.results)


async def until(condition: Callable[[], bool], changed: Callable[[], Awaitable[None]]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await changed()


async def test_a_typed_value_outside_the_physical_range_is_refused_and_asked_again(
    station: Run,
) -> None:
    async with station(one_ev(), inspector=False) as built:
        assert built.world is not None
        world = asyncio.create_task(built.world.run())
        prompts = built.station.prompts
        prompt = await prompts.wait_for("measurement", WAIT_S)
        assert prompt.name == "soc_pct"
        assert "limits >= 30 %" in prompt.text and "range 0..100" in prompt.text
        with pytest.raises(Refused, match=r"150 % is outside the physical range 0\.\.100 %"):
            await built.station.answer("measurement", "150", "ines", "inspector")
        with pytest.raises(Refused, match="'lots' is not a number"):
            await built.station.answer("measurement", "lots", "ines", "inspector")
        assert prompts.current is prompt and not prompt.future.done()  # still asked
        await built.station.answer("measurement", "29.6", "ines", "inspector")
        await asyncio.wait_for(world, WAIT_S)
        events = built.journal.events()
    refused = [e for e in events if e.kind == "refused"]
    assert [(e.operator, e.data["reason"], e.data["detail"]) for e in refused] == [
        ("ines", "out_of_range", "150"),
        ("ines", "out_of_range", "lots"),
    ]
    (typed,) = measured(events, "typed")
    (value,) = typed.data["values"]
    assert (typed.operator, typed.result, value["value"], value["ok"]) == (
        "ines",
        "pass",
        30.0,
        True,
    )
    assert built.world.results == {EV: "passed"}


async def test_an_inspector_types_the_value_over_opc_ua(station: Run, tmp_path: Path) -> None:
    """EnterMeasurement: the prompt names the quantity (Prompt/Name); a value outside the
    physical range is BadOutOfRange and asked again; a good one is measured. Each
    quantity's last measurement is under Measurements/<name> (waiting for its first)."""
    interface = Interface(tmp_path)
    scenario = one_ev(measurements={"battery-qualification": [{"soh_pct": 64.0}]})
    async with station(scenario, inspector=False, serve=interface.serve) as built:
        assert built.world is not None
        world = asyncio.create_task(built.world.run())
        await built.station.prompts.wait_for("measurement", WAIT_S)
        async with interface.inspector() as ines:
            name = await ines.node("Station.Prompt.Name").read_value()
            before = await ines.node("Station.Measurements.soh_pct.Value").read_data_value(
                raise_on_bad_status=False
            )
            subscription = await ines.client.create_subscription(10, None)
            verdict = ines.node("Station.Measurements.soh_pct.Verdict")
            await subscription.subscribe_data_change(verdict, queuesize=10)
            with pytest.raises(UaStatusCodeError) as refused:
                await ines.call("EnterMeasurement", "150")
            assert await ines.call("EnterMeasurement", "56") == "measurement: 56"
            async with asyncio.timeout(WAIT_S):
                async for change in subscription:
                    if change.value == "fail":
                        break
            last = {
                field: await ines.node(f"Station.Measurements.soh_pct.{field}").read_value()
                for field in ("Value", "Unit", "Limits", "Verdict", "Time", "VIN")
            }
            soc = await ines.node("Station.Measurements.soc_pct.Value").read_value()
        await asyncio.wait_for(world, WAIT_S)
        events = built.journal.events()
    assert name == "soc_pct"
    assert type(refused.value).__name__ == "BadOutOfRange"
    assert before.StatusCode.name == "BadWaitingForInitialData"
    (typed,) = measured(events, "typed")
    assert (typed.operator, typed.data["values"][0]["value"]) == ("ines", 56.0)
    (tester,) = measured(events, "device:tester")
    assert last == {
        "Value": 64.0,
        "Unit": "%",
        "Limits": ">= 70.0 %",
        "Verdict": "fail",
        "Time": datetime.fromisoformat(tester.wall),
        "VIN": EV,
    }
    assert soc == 56.0


async def test_stopped_before_journaling_asks_and_reads_again_never_what_was_journaled(
    station: Run,
) -> None:
    """Stopped while the tester measures (the value typed before is journaled, the
    tester's are not): after the restart the tester measures again, and nobody is asked
    again for the typed value (the inspector of the second run would not answer)."""
    fault = {"station": "battery", "kind": "tester_no_ready", "count": 1}
    async with station(one_ev(faults=[fault])) as built:
        assert built.world is not None and built.sims is not None
        world = asyncio.create_task(built.world.run())
        tester = built.sims.testers["tester"]
        changed = asyncio.Event()
        built.station.on_change(changed.set)

        async def wait() -> None:
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await changed.wait()

        await until(lambda: tester.starts == 1, wait)
        assert len(measured(built.journal.events(), "typed")) == 1
        await crash(world)
    again = await restart(station)
    assert list(again.restored) == ["soc_pct"]
    assert again.starts == 1  # read again: nothing of the tester was journaled
    assert len(measured(again.events, "typed")) == 1
    assert len(measured(again.events, "device:tester")) == 1
    assert again.results == {EV: "passed"}


async def test_stopped_once_journaled_the_tester_is_not_started_again(
    station: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with station(one_ev(measurements={"battery-qualification": [{"soh_pct": 64}]})) as built:
        assert built.world is not None
        people = built.world.floor.people
        answer = people._answer

        async def no_verdict(kind: str, value: str, who: tuple[str, str]) -> None:
            if kind != "verdict":  # the inspector is away when the sign-off is asked
                await answer(kind, value, who)

        monkeypatch.setattr(people, "_answer", no_verdict)
        world = asyncio.create_task(built.world.run())
        await built.station.prompts.wait_for("verdict", WAIT_S)
        assert len(measured(built.journal.events(), "device:tester")) == 1
        await crash(world)
    again = await restart(station)
    assert again.restored["soh_pct"] is False and len(again.restored) == 5
    assert again.starts == 0
    (reading,) = measured(again.events, "device:tester")
    assert reading.result == "fail"
    assert again.results == {EV: "failed"}  # the journaled SoH still decides
