"""The console driven by keys, against a real station runtime over its real OPC UA
server: the pilot station (`tests/stations/console-pilot.yaml`) has a simulated
barcode reader with no label in front of it, so each vehicle starts with a
no-read alarm and a manual VIN entry, then a checklist, then an inspector's
measured value, findings and verdict. Every action is checked in the station's
journal, with the user."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from hal.config import LinkSettings
from station.assembly import assemble
from station.config.loader import load_station
from station.console.app import ConsoleApp
from station.console.messages import ConsoleState
from station.console.screens.finding_entry import FindingScreen
from station.console.screens.login import LoginScreen
from station.console.screens.measurement_entry import MeasurementScreen
from station.interface.client import StationClient
from station.interface.server import StationServer, serve
from station.interface.users import add_user
from station.journal import Event
from station.runtime import Station

PILOT_STATION = Path(__file__).parent.parent / "stations" / "console-pilot.yaml"
VIN = "VF1RFB00X66123456"
USERS = {"alice": "operator", "ivan": "inspector", "sam": "supervisor"}
SIZE = (100, 32)
CRITICAL = {"code": "8.2.1", "severity": "critical", "text": "emissions above the limit"}


def password(user: str) -> str:
    return f"{user}passw0rd1234"


@dataclass
class Rig:
    station: Station
    server: StationServer
    endpoint: str
    users_file: Path
    pki_dir: Path

    def events(self, kind: str) -> list[Event]:
        return self.station.journal.events(kinds=[kind])


@pytest.fixture
async def rig(tmp_path: Path, free_port: int) -> AsyncIterator[Rig]:
    users_file = tmp_path / "users.yaml"
    for user, role in USERS.items():
        add_user(users_file, user, role, password(user))
    loaded = load_station(PILOT_STATION)
    endpoint = f"opc.tcp://127.0.0.1:{free_port}/station"

    def server(station: Station) -> StationServer:
        return serve(
            station,
            loaded.model.interface,
            endpoint=endpoint,
            users_file=users_file,
            pki_dir=tmp_path / "pki",
        )

    async with assemble(loaded, tmp_path, simulate=True, serve=server) as built:
        assert built.server is not None
        await built.server.serving()  # it comes up after the station
        yield Rig(built.station, built.server, endpoint, users_file, tmp_path / "pki")


class Watch:
    """Waits on the console's state, woken by each change (no polling)."""

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app
        self.changed = asyncio.Event()
        app.watch(app, "state", lambda _state: self.changed.set(), init=False)

    async def until(
        self, condition: Callable[[ConsoleState], bool], what: str, timeout: float = 10
    ) -> ConsoleState:
        try:
            async with asyncio.timeout(timeout):
                while not condition(self.app.state):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"the console never showed {what}: {self.app.state}") from None
        return self.app.state


def prompt_is(kind: str, item: int | None = None) -> Callable[[ConsoleState], bool]:
    def check(state: ConsoleState) -> bool:
        prompt = state.snapshot.status["prompt"] if state.snapshot is not None else None
        return (
            prompt is not None
            and prompt["kind"] == kind
            and (item is None or prompt["item"] == item)
        )

    return check


def notice_has(text: str) -> Callable[[ConsoleState], bool]:
    return lambda state: text in state.notice


async def log_in(pilot: Pilot[None], watch: Watch, user: str, secret: str | None = None) -> None:
    await pilot.press("l")
    await pilot.press(*user, "enter", *(secret or password(user)), "enter")
    await watch.until(lambda s: s.link.connected and s.link.user == user, f"a session of {user}")


async def test_operator_types_the_vin_acknowledges_the_alarm_and_confirms_the_checklist(
    rig: Rig,
) -> None:
    app = ConsoleApp(rig.endpoint)
    async with app.run_test(size=SIZE) as pilot:
        watch = Watch(app)
        await log_in(pilot, watch, "alice")
        assert app.state.link.role == "operator"
        state = await watch.until(prompt_is("manual_vin"), "the manual VIN prompt")
        assert state.snapshot is not None
        assert [a["key"] for a in state.snapshot.status["alarms"]] == ["noread:technical-control"]

        await pilot.press("v", *VIN, "enter")
        await watch.until(prompt_is("checklist"), "the checklist")
        await pilot.press("a")
        await watch.until(
            lambda s: s.snapshot is not None and not s.snapshot.status["alarms"],
            "the alarm gone once acknowledged",
        )
        await pilot.press("d")
        await watch.until(notice_has("ConfirmChecklistItem: checklist: done"), "item 1 done")
        await watch.until(prompt_is("checklist", item=1), "the second checklist item")
        await pilot.press("d")
        await watch.until(prompt_is("measurement"), "the measurement prompt")

    assert [(e.vin, e.operator) for e in rig.events("manual_vin")] == [(VIN, "alice")]
    acked = rig.events("alarm_acked")
    assert [(e.result, e.operator) for e in acked] == [("noread:technical-control", "alice")]
    items = rig.events("checklist_item")
    assert [(e.data["text"], e.operator) for e in items] == [
        ("lights checked", "alice"),
        ("brakes checked", "alice"),
    ]
    commands = [(e.result, e.operator) for e in rig.events("command")]
    assert commands[-4:] == [
        ("manual_vin", "alice"),
        ("acknowledge", "alice"),
        ("confirm", "alice"),
        ("confirm", "alice"),
    ]


async def test_an_operators_override_is_refused_with_the_reason_and_journaled(rig: Rig) -> None:
    app = ConsoleApp(rig.endpoint)
    async with app.run_test(size=SIZE) as pilot:
        watch = Watch(app)
        await log_in(pilot, watch, "alice")
        await pilot.press("o", *"camera three dirty", "enter")
        state = await watch.until(notice_has("refused"), "the refusal")
        assert state.notice_is_error
        assert state.notice == (
            "refused: Override: alice (operator) may not override: needs one of supervisor"
        )
    refused = rig.events("refused")
    assert [(e.result, e.operator, e.data["role"]) for e in refused] == [
        ("override", "alice", "operator")
    ]
    assert rig.events("override") == []


async def test_a_wrong_password_reopens_the_login_and_the_console_stays_read_only(
    rig: Rig,
) -> None:
    app = ConsoleApp(rig.endpoint)
    async with app.run_test(size=SIZE) as pilot:
        watch = Watch(app)
        await pilot.press("l")
        await pilot.press(*"alice", "enter", *"wrong", "enter")
        await watch.until(notice_has("login refused for alice"), "the login refusal")
        await watch.until(lambda s: s.link.connected, "a read-only session")
        assert app.state.link.user == "anonymous"
        assert isinstance(app.screen, LoginScreen)
    refusals = rig.events("login_refused")
    assert [(e.operator, e.data["why"]) for e in refusals] == [("alice", "wrong user or password")]


async def test_the_console_shows_the_loss_and_reconnects_when_the_server_restarts(
    rig: Rig,
) -> None:
    quick = LinkSettings(backoff_initial_s=0.1, backoff_max_s=0.3)  # the retries, not their pace
    app = ConsoleApp(rig.endpoint, link_factory=functools.partial(StationClient, settings=quick))
    async with app.run_test(size=SIZE) as pilot:
        watch = Watch(app)
        await log_in(pilot, watch, "alice")
        await rig.server.stop()
        state = await watch.until(lambda s: not s.link.connected, "the disconnection")
        assert state.snapshot is not None, "the last known status stays on screen"
        assert "-stale" in app.screen.classes
        restarted = serve(
            rig.station,
            rig.station.config.model.interface,
            endpoint=rig.endpoint,
            users_file=rig.users_file,
            pki_dir=rig.pki_dir,
        )
        await restarted.start()
        try:
            await watch.until(
                lambda s: s.link.connected and s.link.user == "alice", "the reconnection"
            )
            assert "-stale" not in app.screen.classes
        finally:
            await restarted.stop()


def screen_text(app: ConsoleApp, selector: str) -> str:
    """What a Static of the active screen shows, as plain text."""
    return str(app.screen.query_one(selector, Static).render())


async def test_inspector_types_a_measurement_picks_findings_and_fails_the_vehicle(
    rig: Rig,
) -> None:
    """At 80 columns: the measurement dialog (refused outside the physical range, then a
    value out of limits shown as FAIL), the finding dialog (a code of the catalogue with
    a note, then none), the verdict key; each journaled with the inspector."""
    station = rig.station
    await station.prompts.wait_for("manual_vin", timeout=10)
    await station.answer("manual_vin", VIN, "alice", "operator")
    for _ in range(2):
        await station.prompts.wait_for("checklist", timeout=10)
        await station.answer("checklist", "done", "alice", "operator")
    app = ConsoleApp(rig.endpoint)
    async with app.run_test(size=(80, 24)) as pilot:
        watch = Watch(app)
        await log_in(pilot, watch, "ivan")
        await watch.until(prompt_is("measurement"), "the measurement prompt")
        await pilot.press("e")
        assert isinstance(app.screen, MeasurementScreen)
        asked = screen_text(app, "#entry-what")
        assert "brake_efficiency_pct in %" in asked
        assert "limits >= 50.0 %" in asked and "physical range 0..150 %" in asked
        await pilot.press(*"151", "enter")
        await watch.until(notice_has("refused"), "the refusal")
        assert isinstance(app.screen, MeasurementScreen), "still asked"
        assert screen_text(app, "#entry-why") == (
            "REFUSED: EnterMeasurement: brake_efficiency_pct: 151 % is outside the physical "
            "range 0..150 %; enter it again"
        )
        await pilot.press("backspace", "backspace", "backspace", *"48", "enter")
        state = await watch.until(prompt_is("finding"), "the finding prompt")
        assert not isinstance(app.screen, MeasurementScreen), "closed once taken"
        assert state.snapshot is not None
        (value,) = state.snapshot.status["visit_measurements"]
        assert (value["shown"], value["verdict"]) == ("FAIL: 48.0 % < 50.0 %", "fail")
        assert "FAIL: 48.0 % < 50.0 %" in screen_text(app, "VehiclePanel")

        await pilot.press("e")
        assert isinstance(app.screen, FindingScreen)
        await pilot.press("down", "down", "enter", *"right", "enter")  # 8.2.1, a note
        await watch.until(prompt_is("finding", item=1), "the next finding asked")
        assert isinstance(app.screen, FindingScreen), "open for the next finding"
        await pilot.press("n")
        state = await watch.until(prompt_is("verdict"), "the verdict prompt")
        assert not isinstance(app.screen, FindingScreen)
        assert state.snapshot is not None
        assert state.snapshot.status["visit_findings"] == [{**CRITICAL, "note": "right"}]
        panel = screen_text(app, "VehiclePanel")
        assert "8.2.1 CRITICAL emissions above the limit (right)" in panel
        await pilot.press("f")
        state = await watch.until(
            lambda s: s.snapshot is not None and s.snapshot.status["counts"]["failed"] == 1,
            "the failed count",
        )
        assert state.notice == "EnterVerdict: verdict: fail"

    verdicts = rig.events("verdict")
    assert [(e.vin, e.result, e.operator) for e in verdicts] == [(VIN, "fail", "ivan")]
    assert [(e.vin, e.result) for e in rig.events("cycle_ended")] == [(VIN, "failed")]
    (measured,) = rig.events("measured")
    assert (measured.vin, measured.result, measured.operator) == (VIN, "fail", "ivan")
    assert measured.data["values"][0]["value"] == 48.0
    found = [(e.result, e.operator, e.data["findings"], e.data["complete"])
             for e in rig.events("finding")]  # fmt: skip
    assert found == [
        ("fail", "ivan", [{**CRITICAL, "note": "right"}], False),
        ("pass", "ivan", [], True),
    ]
    refused = rig.events("refused")
    assert [(e.operator, e.data["reason"], e.data["detail"]) for e in refused] == [
        ("ivan", "out_of_range", "151")
    ]
