"""Snapshot tests of every console screen in four situations (idle, a vehicle
mid-sweep, a held vehicle with a turning-back alarm, disconnected).

The console renders status snapshots, so these tests feed it recorded ones
through the same path the OPC UA client uses: a `StationLink` whose `run()`
calls `on_link` and `on_snapshot`, which the app turns into messages and state.
The recordings are checked against a real Station's `status()` (same keys, the
same route), so they cannot drift from what the runtime publishes.

Update the SVGs after a deliberate change of the look:
`.venv/bin/pytest tests/system/test_console_snapshots.py --snapshot-update`, then look
at them.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from station import limits, readings
from station.config.loader import load_station
from station.console.app import ConsoleApp
from station.devices import DeviceSet
from station.interface.client import Link, NotConnected, Snapshot
from station.journal import Journal
from station.runtime import Station
from station.status import MeasurementStatus, PromptStatus

ENDPOINT = "opc.tcp://127.0.0.1:4840/station"
PHOTO_STUDIO = Path(__file__).parent.parent.parent / "configs" / "stations" / "photo-studio.yaml"
SIZE = (100, 32)

ROUTE = [
    (10, "intake", False),
    (20, "diagnosis", False),
    (30, "electromechanics", False),
    (40, "bodywork", False),
    (50, "cleaning", False),
    (60, "technical-control", True),
    (65, "battery-qualification", True),
    (70, "photo", False),
    (80, "quality-control", True),
    (90, "exit", False),
]


def route(done: set[str]) -> list[dict[str, Any]]:
    return [
        {"step": s, "operation": op, "gate": g, "done": op in done, "here": op == "photo"}
        for s, op, g in ROUTE
    ]


INPUTS = {
    "vehicle_present": 0,
    "vehicle_in_position": 0,
    "entry_gate_closed": 1,
    "exit_gate_closed": 1,
    "light_curtain_ok": 1,
    "estop_ok": 1,
    "zone_clear": 1,
}
OUTPUTS = {
    "entry_gate_open": 0,
    "exit_gate_open": 0,
    "stack_red": 0,
    "stack_amber": 0,
    "stack_green": 0,
    "andon": 0,
    "camera_trigger": 0,
    "entry_lamp": 0,
}
LINKS = {"plc": True, "turntable": True, "barcode": True, "rfid": True}

IDLE: dict[str, Any] = {
    "station": "photo-studio",
    "operation": "photo",
    "state": "Idle",
    "mode": "production",
    "vin": None,
    "model": "",
    "held": None,
    "route": route(set()),
    "step_index": 0,
    "step_count": 9,
    "step": "wait for vehicle",
    "step_progress": 0.0,
    "prompt": None,
    "alarms": [],
    "counts": {"cycles": 12, "passed": 11, "failed": 0, "rework": 0, "held": 1},
    "blocked": False,
    "starved": False,
    "inputs": INPUTS,
    "outputs": OUTPUTS,
    "links": LINKS,
    "config_hash": "sha256:13b4a7f017c5ca4707cb6f31f1f640c74d13d337f167dac27f2318dca7050208",
    "route_version": 1,
    "visit_measurements": [],
    "visit_findings": [],
    "last_measurements": {},
}

DONE_BEFORE_PHOTO = {"intake", "diagnosis", "electromechanics", "cleaning", "technical-control"}

SWEEP = {
    **IDLE,
    "state": "Execute",
    "vin": "VF1RFB00X66123456",
    "model": "Renault Clio V",
    "route": route(DONE_BEFORE_PHOTO),
    "step_index": 6,
    "step": "turntable_sweep",
    "step_progress": 0.472,
    "inputs": {**INPUTS, "vehicle_present": 1, "vehicle_in_position": 1},
    "outputs": {**OUTPUTS, "stack_green": 1, "camera_trigger": 1},
}

TURNING_BACK = (
    "WVWZZZ1JZXW000001: turning back: photo (step 70, station photo-studio) is upstream; "
    "its next operation is quality-control (step 80, station quality)"
)
HELD = {
    **IDLE,
    "state": "Held",
    "vin": "WVWZZZ1JZXW000001",
    "model": "Volkswagen Golf",
    "held": "turning_back",
    "route": route({*DONE_BEFORE_PHOTO, "photo"}),
    "step_index": 2,
    "step": "verify_route",
    "prompt": None,
    "alarms": [
        {
            "key": "turning_back:WVWZZZ1JZXW000001",
            "priority": 2,
            "text": TURNING_BACK,
            "raised_at": "2026-11-30T10:41:55.120+00:00",
            "active": True,
            "acked_by": None,
        }
    ],
    "inputs": {**INPUTS, "vehicle_present": 1},
    "outputs": {**OUTPUTS, "stack_red": 1, "stack_amber": 1, "andon": 1},
}


def event(seq: int, time: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "wall": f"2026-11-30T{time}.000+00:00",
        "kind": kind,
        "vin": fields.get("vin"),
        "step": fields.get("step"),
        "result": fields.get("result"),
        "operator": fields.get("operator"),
        "detail": fields.get("detail", ""),
    }


VIN1, VIN2 = "VF1RFB00X66123456", "WVWZZZ1JZXW000001"
EVENTS_IDLE = [
    event(401, "10:30:02", "cycle_ended", vin="VR3UPHNKSKT101010", result="passed"),
    event(402, "10:30:03", "state", result="Complete"),
    event(403, "10:31:10", "command", result="reset", operator="alice"),
    event(404, "10:31:11", "state", result="Idle"),
]
EVENTS_SWEEP = [
    *EVENTS_IDLE,
    event(405, "10:38:00", "command", result="start", operator="alice"),
    event(406, "10:38:01", "state", result="Execute"),
    event(407, "10:38:20", "identified", vin=VIN1, step="1:identify", result="barcode+rfid"),
    event(408, "10:38:21", "admitted", vin=VIN1, step="2:verify_route"),
    event(409, "10:38:30", "step_started", vin=VIN1, step="6:turntable_sweep"),
]
EVENTS_HELD = [
    *EVENTS_SWEEP[:6],
    event(410, "10:41:50", "identified", vin=VIN2, step="1:identify", result="barcode+rfid"),
    event(
        411,
        "10:41:55",
        "violation",
        vin=VIN2,
        step="2:verify_route",
        result="turning_back",
        detail='{"expected":"quality-control","found":"photo","kind":"turning_back"}',
    ),
    event(412, "10:41:55", "hold", vin=VIN2, result="turning_back"),
    event(413, "10:41:55", "alarm_raised", result=f"turning_back:{VIN2}"),
    event(414, "10:41:56", "state", result="Held"),
]

CONNECTED = Link(ENDPOINT, True, "alice", "operator", since="10:30:00")
SITUATIONS: dict[str, tuple[Link, Snapshot]] = {
    "idle": (CONNECTED, Snapshot(IDLE, EVENTS_IDLE)),
    "mid_sweep": (CONNECTED, Snapshot(SWEEP, EVENTS_SWEEP)),
    "held_turning_back": (
        Link(ENDPOINT, True, "sam", "supervisor", since="10:40:00"),
        Snapshot(HELD, EVENTS_HELD),
    ),
    "disconnected": (
        Link(
            ENDPOINT,
            False,
            reason="ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 4840)",
            attempt=3,
            since="10:39:12",
        ),
        Snapshot(SWEEP, EVENTS_SWEEP),
    ),
}
"""Situation -> what the client reported last (disconnected keeps the last status)."""
RECORDINGS = dict(SITUATIONS)
"""What a replay may report: the situations, and a gate's data (below)."""


class ReplayLink:
    """A StationLink that reports a recorded link and snapshot, then stays quiet."""

    def __init__(
        self,
        endpoint: str,
        user: str | None,
        password: str | None,
        *,
        on_snapshot: Callable[[Snapshot], None],
        on_link: Callable[[Link], None],
        situation: str,
    ) -> None:
        self.on_snapshot = on_snapshot
        self.on_link = on_link
        self.link, self.snapshot = RECORDINGS[situation]

    async def run(self) -> None:
        self.on_snapshot(copy.deepcopy(self.snapshot))
        self.on_link(self.link)
        await asyncio.Event().wait()  # a replay has nothing more to say; cancelled at exit

    async def call(self, method: str, *args: str | int) -> str:
        raise NotConnected("replay")


def console(situation: str) -> ConsoleApp:
    def factory(endpoint: str, user: str | None, password: str | None, **kw: Any) -> ReplayLink:
        return ReplayLink(endpoint, user, password, situation=situation, **kw)

    return ConsoleApp(ENDPOINT, link_factory=factory)


def replayed(situation: str) -> Callable[[Pilot[None]], Any]:
    """Wait until the app shows the recorded situation (messages processed)."""
    link, snapshot = RECORDINGS[situation]

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        async with asyncio.timeout(5):
            while app.state.link != link or app.state.snapshot != snapshot:
                await pilot.pause()

    return run_before


SCREEN_KEYS = {"station": (), "alarms": ("2",), "events": ("3",), "io": ("4",), "login": ("l",)}


@pytest.mark.parametrize("situation", list(SITUATIONS))
@pytest.mark.parametrize("screen", list(SCREEN_KEYS))
def test_screen(snap_compare: Any, screen: str, situation: str) -> None:
    assert snap_compare(
        console(situation),
        press=SCREEN_KEYS[screen],
        terminal_size=SIZE,
        run_before=replayed(situation),
    )


async def test_recordings_have_the_runtime_status_shape(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.sqlite3", "photo-studio")
    station = Station(load_station(PHOTO_STUDIO), journal, DeviceSet())
    try:
        real = station.status()
    finally:
        await journal.close()
    for name, (_, snapshot) in SITUATIONS.items():
        assert snapshot.status.keys() == real.keys(), name
        assert [
            (o["step"], o["operation"], o["gate"], o["here"]) for o in snapshot.status["route"]
        ] == [(o["step"], o["operation"], o["gate"], o["here"]) for o in real["route"]], name
        assert snapshot.status["step_count"] == real["step_count"], name
        assert snapshot.status["counts"].keys() == real["counts"].keys(), name


# --- a gate's data: measurements out of limits, the entry dialogs ------------------------

STATIONS = PHOTO_STUDIO.parent
BATTERY, QUALITY = load_station(STATIONS / "battery.yaml"), load_station(STATIONS / "quality.yaml")
EV = "VF1AG000X66123456"


def here(operation: str) -> list[dict[str, Any]]:
    return [
        {**stop, "here": stop["operation"] == operation, "done": stop["step"] < 60}
        for stop in route(set())
    ]


def measurement(name: str, value: float, shown: str, **fields: Any) -> MeasurementStatus:
    quantity = readings.quantities(BATTERY.model)[name]
    return {
        "name": name,
        "value": value,
        "unit": quantity.unit,
        "limits": limits.describe(quantity),
        "verdict": "fail" if shown.startswith("FAIL") else "pass",
        "shown": shown,
        "vin": EV,
        "source": "device:tester",
        "operator": "tester",
        "time": "2026-11-30T10:52:10.000+00:00",
        **fields,  # type: ignore[typeddict-item]
    }


MEASURED = [
    measurement("soc_pct", 45.0, "45 %", source="typed", operator="ines"),
    measurement("soh_pct", 64.0, "FAIL: 64.0 % < 70.0 %"),
    measurement("usable_capacity_kwh", 33.81, "33.81 kWh"),
    measurement("insulation_ohm_per_v", 740.0, "740 ohm/V"),
    measurement("cell_spread_mv", 61.0, "FAIL: 61 mV > 50 mV"),
]
BATTERY_IDLE: dict[str, Any] = {
    **IDLE,
    "station": "battery",
    "operation": "battery-qualification",
    "route": here("battery-qualification"),
    "step_count": len(BATTERY.model.cycle),
    "inputs": {k: v for k, v in INPUTS.items() if k != "zone_clear"},
    "outputs": {k: v for k, v in OUTPUTS.items() if k != "camera_trigger"},
    "links": {"plc": True, "rfid": True, "tester": True},
    "last_measurements": {m["name"]: m for m in MEASURED},
}
SOC = readings.quantities(BATTERY.model)["soc_pct"]
MEASURING = {
    **BATTERY_IDLE,
    "state": "Execute",
    "vin": EV,
    "model": "Renault Zoe",
    "step_index": 7,
    "step": "battery qualification",
    "prompt": {
        "kind": "measurement",
        "text": f"soc_pct of {EV} in %: limits >= 30 %, 0 decimal(s), range 0..100",
        "options": [],
        "item": 0,
        "name": "soc_pct",
        "quantity": {
            "name": "soc_pct",
            "description": SOC.description,
            "unit": "%",
            "decimals": 0,
            "limits": limits.describe(SOC),
            "physical_min": 0.0,
            "physical_max": 100.0,
        },
        "catalogue": [],
    },
}
JUDGED = {
    **MEASURING,
    "step_index": 8,
    "step": "inspect",
    "prompt": {
        "kind": "verdict",
        "text": f"verdict for {EV} at battery-qualification",
        "options": ["pass", "fail"],
        "item": 0,
        "name": "",
        "quantity": None,
        "catalogue": [],
    },
    "visit_measurements": MEASURED,
}
PNT_RUN = {"code": "PNT-RUN", "severity": "major", "text": "paint run or sag", "note": "left door"}
FINDING = {
    **MEASURING,
    "station": "quality",
    "operation": "quality-control",
    "route": here("quality-control"),
    "step_count": len(QUALITY.model.cycle),
    "step_index": 7,
    "step": "inspect",
    "links": {"plc": True, "barcode": True, "rfid": True},
    "last_measurements": {},
    "prompt": {
        "kind": "finding",
        "text": f"findings for {EV} at quality-control (1 so far: PNT-RUN (major) paint run "
        "or sag (left door)): type a code of the catalogue and a note, or 'none' when there "
        "is no more",
        "options": [],
        "item": 1,
        "name": "",
        "quantity": None,
        "catalogue": [
            {"code": code, "severity": entry.severity, "text": entry.text}
            for code, entry in QUALITY.model.findings.items()
        ],
    },
    "visit_findings": [PNT_RUN],
}
INES = Link(ENDPOINT, True, "ines", "inspector", since="10:50:00")
GATES: dict[str, tuple[Snapshot, tuple[str, ...], tuple[int, int]]] = {
    "judged_80": (Snapshot(JUDGED, EVENTS_IDLE), (), (80, 32)),
    "judged_120": (Snapshot(JUDGED, EVENTS_IDLE), (), (120, 32)),
    "measurement_dialog_80": (Snapshot(MEASURING, EVENTS_IDLE), ("e",), (80, 32)),
    "finding_dialog_80": (Snapshot(FINDING, EVENTS_IDLE), ("e",), (80, 32)),
}
"""A gate's data on the station screen at 80 and 120 columns (values out of their limits
in words and colour), and the dialogs `e` opens: name -> (snapshot, keys, size)."""
RECORDINGS.update({name: (INES, snapshot) for name, (snapshot, _, _) in GATES.items()})


@pytest.mark.parametrize("name", list(GATES))
def test_gate(snap_compare: Any, name: str) -> None:
    _, keys, size = GATES[name]
    assert snap_compare(console(name), press=keys, terminal_size=size, run_before=replayed(name))


async def test_gate_recordings_have_the_runtime_status_shape(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.sqlite3", "battery")
    station = Station(BATTERY, journal, DeviceSet())
    try:
        real = station.status()
    finally:
        await journal.close()
    assert list(real["last_measurements"]) == [m["name"] for m in MEASURED]
    for name, (snapshot, _, _) in GATES.items():
        status = snapshot.status
        assert status.keys() == real.keys(), name
        assert (
            status["prompt"] is not None
            and status["prompt"].keys() == PromptStatus.__annotations__.keys()
        )
        for value in [*status["visit_measurements"], *status["last_measurements"].values()]:
            assert value.keys() == real["last_measurements"]["soh_pct"].keys(), name
