"""`station line`: every station of line 1, each a real runtime over its own
simulators (real sockets and ptys), vehicles moved from one to the next by the
tags they carry. The acceptance scenario runs once (the command, as a bench
engineer runs it) and the tests read its JSON document and its journals; a
small generated run, the conservation check fed doctored records, and the
exit codes follow."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from station import tag as tagfmt
from station.cli import main
from station.journal import JournalReader
from station.route import Found
from station.scenario import Misroute, Scenario, ScenarioVehicle, load_scenario
from station.scenario_mix import generated
from station.simulation.devices import PersistentTagStore
from station.simulation.floor import tag_uid
from station.simulation.line import (
    TAGS_FILE,
    Journey,
    LineLayout,
    LineResult,
    StationSummary,
    Stop,
    conservation,
    expected_final,
)
from station.state_dir import journal_path
from station.vin import parse_vin

ROOT = Path(__file__).parent.parent.parent
LINE = ROOT / "configs" / "lines" / "line1.yaml"
SCENARIO = ROOT / "configs" / "scenarios" / "line-acceptance.yaml"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

UP_TO_CLEANING = [
    ("reception", "passed"),
    ("diagnosis", "passed"),
    ("electromechanics", "passed"),
    ("cleaning", "passed"),
]
DOWNSTREAM = [("photo-studio", "passed"), ("quality", "passed"), ("exit", "passed")]
TC = ("technical-control", "passed")
JOURNEYS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "ev-soh-below-its-limit-rework-then-pass": (
        "VF3LCYHZ6HS100003",
        [
            *UP_TO_CLEANING,
            TC,
            ("battery", "failed"),
            ("rework-bay", "rework"),
            ("battery", "passed"),
            *DOWNSTREAM,
        ],
    ),
    "body-damage-found-at-diagnosis-takes-bodywork": (
        "VF1RFB00X66100001",
        [*UP_TO_CLEANING[:3], ("body-paint", "passed"), UP_TO_CLEANING[3], TC, *DOWNSTREAM],
    ),
    "technical-control-fail-rework-then-pass": (
        "WBA8E9C58GK100004",
        [
            *UP_TO_CLEANING,
            ("technical-control", "failed"),
            ("rework-bay", "rework"),
            TC,
            *DOWNSTREAM,
        ],
    ),
    "quality-control-fail-rework-then-pass": (
        "ZFA31200800100005",
        [
            *UP_TO_CLEANING,
            TC,
            ("photo-studio", "passed"),
            ("quality", "failed"),
            ("rework-bay", "rework"),
            ("quality", "passed"),
            ("exit", "passed"),
        ],
    ),
    "turning-back-after-the-photo-studio-is-held": (
        "TMBJG7NE9F0100006",
        [*UP_TO_CLEANING, TC, ("photo-studio", "passed"), ("diagnosis", "held")],
    ),
    "body-damage-found-then-cleaning-before-bodywork-is-refused": (
        "VF7SA5FS066100007",
        [*UP_TO_CLEANING[:3], ("cleaning", "held")],
    ),
    "non-ev-skips-the-battery-qualification": (
        "WVWZZZ1J9XW100002",
        [*UP_TO_CLEANING, TC, *DOWNSTREAM],
    ),
}


@dataclass
class LineOutput:
    returncode: int
    document: dict[str, Any]
    stderr: str
    state_dir: Path | None

    def vehicle(self, vin: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = [v for v in self.document["vehicles"] if v["vin"] == vin]
        assert len(found) == 1, vin
        return found[0]


def station_line(
    *options: str, state_dir: Path | None = None, lines: tuple[Path, ...] = (LINE,)
) -> LineOutput:
    """`station line` as a bench engineer runs it, in its own process."""
    configs = [word for line in lines for word in ("--config", str(line))]
    command = [sys.executable, "-m", "station.cli", "line", *configs, "--simulate"]
    command += [*options, "--fast", "--json"]
    if state_dir is not None:
        command += ["--state-dir", str(state_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=140, check=False)
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    return LineOutput(done.returncode, document, done.stderr, state_dir)


@pytest.fixture(scope="module")
def layout() -> LineLayout:
    return LineLayout.load(LINE)


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> LineOutput:
    state_dir = tmp_path_factory.mktemp("line") / "run"
    return station_line("--scenario", str(SCENARIO), state_dir=state_dir)


def test_acceptance_run_ends_every_vehicle_as_the_scenario_expects(
    acceptance: LineOutput,
) -> None:
    assert acceptance.returncode == 0, acceptance.stderr
    document = acceptance.document
    finals = {v["vin"]: (v["final"], v["expected"]) for v in document["vehicles"]}
    assert finals == {
        vin: ("held" if stops[-1][1] == "held" else "released",) * 2
        for vin, stops in JOURNEYS.values()
    }
    assert document["conservation"] == {"ok": True, "problems": []}
    assert document["unexpected"] == []
    assert document["released"] == 5 and document["held"] == 2
    assert document["wall_s"] > document["startup_s"] > 0 and document["cpu_s"] > 0


@pytest.mark.parametrize("name", JOURNEYS)
def test_journey(acceptance: LineOutput, layout: LineLayout, name: str) -> None:
    vin, expected = JOURNEYS[name]
    journey = acceptance.vehicle(vin)["journey"]
    assert [(stop["station"], stop["result"]) for stop in journey] == expected
    for stop in journey:
        assert stop["operation"] == layout.operation_of(stop["station"])
        assert stop["step"] == layout.step_of(stop["operation"])
        assert 0 <= stop["t_in"] < stop["t_out"]
    for before, after in itertools.pairwise(journey):
        assert after["t_in"] > before["t_out"], "a vehicle travels between two stations"


def test_the_violations_are_turning_back_and_skipping_the_bodywork_found(
    acceptance: LineOutput,
) -> None:
    violations = sorted(acceptance.document["violations"], key=lambda v: v["vin"])
    assert [{k: v for k, v in violation.items() if k != "t"} for violation in violations] == [
        {
            "vin": "TMBJG7NE9F0100006",
            "station": "diagnosis",
            "kind": "turning_back",
            "expected": "quality-control",
            "found": "diagnosis",
            "action": "held",
        },
        {
            "vin": "VF7SA5FS066100007",
            "station": "cleaning",
            "kind": "skipped_operation",
            "expected": "bodywork",
            "found": "cleaning",
            "action": "held",
        },
    ]


def test_diagnosis_journals_what_it_found_and_the_tag_carries_it(
    acceptance: LineOutput, layout: LineLayout
) -> None:
    """Each vehicle's answer is journaled at diagnosis; the one found is on its tag with
    diagnosis as its finder, and changed only what comes after (bodywork due)."""
    assert acceptance.state_dir is not None
    with JournalReader.open(journal_path(acceptance.state_dir / "diagnosis")) as journal:
        answers = {
            e.vin: (e.result, e.operator, e.data["attribute"], e.data["operation"])
            for e in journal.events()
            if e.kind == "attribute_found"
        }
    found = ("found", "sim-operator", "needs_bodywork", "diagnosis")
    not_found = ("not_found", "sim-operator", "needs_bodywork", "diagnosis")
    reached = {vin for vin, stops in JOURNEYS.values() if ("diagnosis", "passed") in stops}
    assert answers == {
        vin: found if vin in ("VF1RFB00X66100001", "VF7SA5FS066100007") else not_found
        for vin in reached
    }
    tags = PersistentTagStore(acceptance.state_dir / TAGS_FILE)
    for vin in ("VF1RFB00X66100001", "VF7SA5FS066100007"):
        progress = tagfmt.decode(tags.memory(tag_uid(vin)), layout.route)
        assert progress.found == (Found("needs_bodywork", True, "diagnosis"),)
        assert progress.attributes == frozenset()


def test_stations_report_the_cycles_of_the_journeys(acceptance: LineOutput) -> None:
    stations = {s["station"]: s for s in acceptance.document["stations"]}
    stops: dict[str, int] = {}
    for vehicle in acceptance.document["vehicles"]:
        for stop in vehicle["journey"]:
            stops[stop["station"]] = stops.get(stop["station"], 0) + 1
    assert {name: s["cycles"] for name, s in stations.items()} == {
        name: stops.get(name, 0) for name in stations
    }
    assert stations["rework-bay"]["counts"]["rework"] == 3  # TC, quality, battery (SoH)
    assert stations["diagnosis"]["counts"]["held"] == 1
    assert stations["cleaning"]["counts"]["held"] == 1
    assert all(s["state"] == "Execute" for s in stations.values())


def test_the_battery_journal_holds_both_measurements_with_their_limits(
    acceptance: LineOutput,
) -> None:
    assert acceptance.state_dir is not None
    with JournalReader.open(journal_path(acceptance.state_dir / "battery")) as journal:
        readings = [
            e for e in journal.events() if e.kind == "measured" and e.data["source"] != "typed"
        ]
    soh = [
        (e.vin, e.result, v["value"], v["low"], v["ok"])
        for e in readings
        for v in e.data["values"]
        if v["name"] == "soh_pct"
    ]
    assert soh == [
        ("VF3LCYHZ6HS100003", "fail", 64.0, 70.0, False),
        ("VF3LCYHZ6HS100003", "pass", 81.5, 70.0, True),
    ]


def test_the_rework_bay_shows_the_findings_of_the_failed_gate(acceptance: LineOutput) -> None:
    """The gates journal their findings (the inspection system's at the technical control,
    the inspector's typed codes at quality); the rework operator's item shows them."""
    assert acceptance.state_dir is not None

    def events(station: str) -> list[Any]:
        assert acceptance.state_dir is not None
        with JournalReader.open(journal_path(acceptance.state_dir / station)) as journal:
            return journal.events()

    tc = [e for e in events("technical-control") if e.kind == "finding" and e.data["findings"]]
    assert [(e.vin, e.result, e.data["source"]) for e in tc] == [
        ("WBA8E9C58GK100004", "fail", "device:inspection")
    ]
    typed = [e for e in events("quality") if e.kind == "finding" and e.data["findings"]]
    assert [f["code"] for e in typed for f in e.data["findings"]] == ["PNT-RUN", "PNT-DUST"]
    shown = {e.vin: e.data["findings"] for e in events("rework-bay") if e.kind == "checklist_item"}
    assert shown["WBA8E9C58GK100004"] == (
        "findings: technical-control: 1.1.13 (major) front left brake disc scored"
    )
    assert shown["ZFA31200800100005"] == (
        "findings: quality-control: PNT-RUN (major) paint run or sag; "
        "PNT-DUST (minor) dust inclusion in the clear coat"
    )
    assert shown["VF3LCYHZ6HS100003"] == "findings: none recorded"  # failed on its SoH


def test_noread_at_the_check_in_is_typed_by_an_operator(acceptance: LineOutput) -> None:
    assert acceptance.state_dir is not None
    vin = "WVWZZZ1J9XW100002"
    with JournalReader.open(journal_path(acceptance.state_dir / "reception")) as journal:
        events = journal.events()
    manual = [e for e in events if e.kind == "manual_vin"]
    assert [(e.vin, e.operator, e.result) for e in manual] == [(vin, "sim-operator", "entered")]
    at = next(i for i, e in enumerate(events) if e.kind == "identified" and e.vin == vin)
    start = max(i for i, e in enumerate(events[:at]) if e.kind == "cycle_started")
    end = next(i for i, e in enumerate(events) if i > at and e.kind == "cycle_ended")
    visit = events[start : end + 1]
    assert [e.result for e in visit if e.kind == "noread"] == [
        "attempt 1/3",
        "attempt 2/3",
        "attempt 3/3",
    ]
    (identified,) = [e for e in visit if e.kind == "identified"]
    assert identified.vin == vin and "manual" in (identified.result or "")


def test_tags_carry_the_progress_of_the_journey(acceptance: LineOutput, layout: LineLayout) -> None:
    assert acceptance.state_dir is not None
    tags = PersistentTagStore(acceptance.state_dir / TAGS_FILE)
    route = layout.route
    ev = tagfmt.decode(tags.memory(tag_uid("VF3LCYHZ6HS100003")), route)
    assert "battery-qualification" in ev.done and ev.done[-1] == "exit"
    reworked = tagfmt.decode(tags.memory(tag_uid("WBA8E9C58GK100004")), route)
    assert reworked.loops("technical-control") == 1 and reworked.failed_gate is None
    turned_back = tagfmt.decode(tags.memory(tag_uid("TMBJG7NE9F0100006")), route)
    assert turned_back.done[-1] == "photo", "the refused presentation wrote nothing"


# --- the conservation check on doctored records --------------------------------------------


@contextlib.contextmanager
def recorded(
    output: LineOutput, layout: LineLayout, journal_dir: Path | None = None
) -> Iterator[dict[str, Any]]:
    """What the check reads of a finished run: records, journals (from `journal_dir`
    if given, a copy to doctor), tags."""
    assert output.state_dir is not None
    folder = journal_dir or output.state_dir
    tags = PersistentTagStore(output.state_dir / TAGS_FILE)
    with contextlib.ExitStack() as stack:
        journals = {
            name: stack.enter_context(JournalReader.open(journal_path(folder / name)))
            for name in layout.stations
        }
        yield {
            "layout": layout,
            "scenario": load_scenario(SCENARIO),
            "vehicles": [Journey.from_json(v) for v in output.document["vehicles"]],
            "stations": [StationSummary(**s) for s in output.document["stations"]],
            "journals": journals,
            "tags": {v.vin: tags.memory(tag_uid(v.vin)) for v in load_scenario(SCENARIO).vehicles},
        }


def doctor(vehicles: list[Journey], vin: str, **change: Any) -> list[Journey]:
    return [replace(v, **change) if v.vin == vin else v for v in vehicles]


def problems_when(
    output: LineOutput, layout: LineLayout, vin: str, edit: Callable[[list[Stop]], list[Stop]]
) -> list[str]:
    """The check's findings once `vin`'s journey is edited."""
    with recorded(output, layout) as run:
        record = next(v for v in run["vehicles"] if v.vin == vin)
        run["vehicles"] = doctor(run["vehicles"], vin, stops=edit(record.stops))
        return conservation(**run)


def test_the_check_passes_on_the_records_of_the_run(
    acceptance: LineOutput, layout: LineLayout
) -> None:
    with recorded(acceptance, layout) as run:
        assert conservation(**run) == []


def test_the_check_catches_a_journey_that_skips_the_rework_bay(
    acceptance: LineOutput, layout: LineLayout
) -> None:
    vin = "WBA8E9C58GK100004"
    problems = problems_when(
        acceptance, layout, vin, lambda stops: [s for s in stops if s.station != "rework-bay"]
    )
    assert any(
        p.startswith(f"{vin}: stop 6 at technical-control: the route rules refuse it")
        and "skipped_operation" in p
        for p in problems
    ), problems
    assert any(p.startswith("rework-bay: the journal ended cycles") for p in problems), problems
    assert any(p.startswith(f"{vin}: at rework-bay the journey says []") for p in problems)


def test_the_check_catches_a_gate_fail_recorded_as_a_pass(
    acceptance: LineOutput, layout: LineLayout
) -> None:
    vin = "ZFA31200800100005"

    def passed(stops: list[Stop]) -> list[Stop]:
        failed = ("quality", "failed")
        return [
            replace(s, result="passed") if (s.station, s.result) == failed else s for s in stops
        ]

    problems = problems_when(acceptance, layout, vin, passed)
    assert any(
        p.startswith(f"{vin}: stop 8 at rework-bay: the route rules refuse it") for p in problems
    ), problems
    assert any(p.startswith(f"{vin}: at quality the journey says ['passed'") for p in problems)


def test_the_check_catches_a_journey_that_skips_the_bodywork_found_at_diagnosis(
    acceptance: LineOutput, layout: LineLayout
) -> None:
    vin = "VF1RFB00X66100001"
    problems = problems_when(
        acceptance, layout, vin, lambda stops: [s for s in stops if s.station != "body-paint"]
    )
    assert any(
        p.startswith(
            f"{vin}: stop 4 at cleaning: the route rules refuse it (skipped_operation, "
            "expected bodywork)"
        )
        for p in problems
    ), problems


def test_the_check_catches_a_held_vehicle_claimed_released(
    acceptance: LineOutput, layout: LineLayout
) -> None:
    vin = "TMBJG7NE9F0100006"
    with recorded(acceptance, layout) as run:
        run["vehicles"] = doctor(run["vehicles"], vin, final="released")
        problems = conservation(**run)
    assert f"{vin}: released, but its journey leaves quality-control to do" in problems
    assert f"{vin}: stop 7 at diagnosis" not in " ".join(problems), "the stop itself is right"


def test_the_check_catches_an_edited_journal(
    acceptance: LineOutput, layout: LineLayout, tmp_path: Path
) -> None:
    assert acceptance.state_dir is not None
    shutil.copytree(acceptance.state_dir, tmp_path / "run")
    path = journal_path(tmp_path / "run" / "quality")
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # a tamperer drops the guard
        db.execute("DROP TRIGGER events_no_update")
        db.execute(
            "UPDATE events SET result = 'passed' WHERE kind = 'cycle_ended' AND result = 'failed'"
        )
    with recorded(acceptance, layout, journal_dir=tmp_path / "run") as run:
        problems = conservation(**run)
    assert any(p.startswith("quality: journal: ") and "hash" in p for p in problems), problems
    assert any(p.startswith("quality: the journal ended cycles") for p in problems), problems


def test_exit_code_is_1_when_the_check_fails_or_a_vehicle_ends_unexpectedly(
    acceptance: LineOutput, layout: LineLayout
) -> None:
    with recorded(acceptance, layout) as run:
        result = LineResult(
            line="line-1",
            vehicles=run["vehicles"],
            violations=[],
            stations=run["stations"],
            wall_s=1.0,
            cpu_s=1.0,
            startup_s=0.5,
            problems=[],
            run_dir=Path("."),
        )
    assert result.exit_code == 0
    assert replace(result, problems=["x: broken"]).exit_code == 1
    unexpected = doctor(result.vehicles, "TMBJG7NE9F0100006", expected="released")
    assert replace(result, vehicles=unexpected).exit_code == 1


# --- what the scenario expects, and the check on small records ---------------------------------

EV = "VF3LCYHZ6HS100003"


@pytest.mark.parametrize(
    "vehicle, misroute, expected",
    [
        ({}, None, "released"),
        ({"verdicts": {"technical-control": ["fail", "fail"]}}, None, "released"),
        ({"verdicts": {"technical-control": ["fail", "fail", "fail"]}}, None, "held"),
        ({"verdicts": {"battery-qualification": ["fail"] * 3}, "ev": False}, None, "released"),
        ({}, {"station": "diagnosis", "after": "photo"}, "held"),
        ({}, {"station": "photo-studio", "after": "cleaning"}, "held"),
        ({}, {"station": "technical-control", "after": "cleaning"}, "released"),
        ({"faults": [{"station": "photo-studio", "kind": "label_mismatch"}]}, None, "held"),
        (
            {"faults": [{"station": "reception", "kind": "barcode_noread", "count": 3}]},
            None,
            "released",
        ),
        (
            {
                "manual_vin": False,
                "faults": [{"station": "reception", "kind": "barcode_noread", "count": 3}],
            },
            None,
            "held",
        ),
        (
            {
                "manual_vin": False,
                "faults": [{"station": "quality", "kind": "barcode_noread", "count": 3}],
            },
            None,
            "released",
        ),
        ({"measurements": {"battery-qualification": [{"soh_pct": 64}]}}, None, "released"),
        (
            {"measurements": {"battery-qualification": [{"cell_spread_mv": 50.5}] * 3}},
            None,
            "held",
        ),
        ({"found": {"diagnosis": {"needs_bodywork": True}}}, None, "released"),
        (
            {"found": {"diagnosis": {"needs_bodywork": True}}},
            {"station": "cleaning", "after": "electromechanics"},
            "held",
        ),
        ({}, {"station": "cleaning", "after": "electromechanics"}, "released"),
    ],
    ids=[
        "plain",
        "two-fails-two-reworks",
        "third-fail-uses-up-the-loops",
        "non-ev-never-meets-the-battery-gate",
        "turning-back",
        "skipping-a-gate",
        "misrouted-where-it-was-due-anyway",
        "swapped-label",
        "noread-typed-by-hand",
        "noread-nobody-types",
        "noread-where-the-tag-names-it",
        "soh-below-its-limit-once-then-within",
        "cell-spread-above-its-limit-uses-up-the-loops",
        "body-damage-found-at-diagnosis",
        "body-damage-found-then-bodywork-skipped",
        "no-body-damage-cleaning-was-due-anyway",
    ],
)
def test_expected_final(
    layout: LineLayout, vehicle: dict[str, Any], misroute: dict[str, str] | None, expected: str
) -> None:
    plan = ScenarioVehicle.model_validate({"vin": EV, "ev": True} | vehicle)
    wrong = Misroute.model_validate({"vin": EV, **misroute}) if misroute else None
    assert expected_final(layout, plan, wrong) == expected


def test_a_vehicle_held_at_the_check_in_keeps_a_blank_tag(layout: LineLayout) -> None:
    scenario = Scenario.model_validate({"vehicles": [{"vin": EV}]})
    held = Journey(EV, "held", "held", [Stop("reception", "intake", 10, "held", 0.1, 0.5)])
    blank = {EV: bytes(tagfmt.TAG_BYTES)}
    assert conservation(layout, scenario, [held], [], {}, blank) == []
    released = replace(held, final="released")
    assert conservation(layout, scenario, [released], [], {}, blank) == [
        f"{EV}: released, but its journey leaves intake to do"
    ]


# --- a generated mix ---------------------------------------------------------------------------


def test_a_small_generated_run() -> None:
    """Seed 29: the first vehicle fails technical control three times (the rework
    loops of line 1 are 2): held for a supervisor, as generated."""
    output = station_line("--vehicles", "3", "--seed", "29")
    assert output.returncode == 0, output.stderr
    document = output.document
    assert [(v["final"], v["expected"]) for v in document["vehicles"]] == [
        ("held", "held"),
        ("released", "released"),
        ("released", "released"),
    ]
    assert document["conservation"]["ok"] and document["run_dir"] is None
    held = document["vehicles"][0]["journey"]
    assert [(s["station"], s["result"]) for s in held[4:]] == [
        ("technical-control", "failed"),
        ("rework-bay", "rework"),
        ("technical-control", "failed"),
        ("rework-bay", "rework"),
        ("technical-control", "failed"),
    ]
    for vehicle in document["vehicles"][1:]:
        assert vehicle["journey"][0]["station"] == "reception"
        assert vehicle["journey"][-1]["station"] == "exit"
    lines = [line for line in output.stderr.splitlines() if "/3 " in line]
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"], "one plain line each"


def test_generated_mix_is_reproducible_with_valid_vins(layout: LineLayout) -> None:
    one, again = generated(60, 7), generated(60, 7)
    assert one == again and one != generated(60, 8)
    assert all(not parse_vin(v.vin).warnings for v in one.vehicles)
    assert any(v.ev for v in one.vehicles) and any(not v.ev for v in one.vehicles)
    assert any(v.verdicts for v in one.vehicles)
    assert not any(v.found for v in one.vehicles)


def test_generated_line_vehicles_have_body_damage_found_at_diagnosis(layout: LineLayout) -> None:
    """The line's stations find what their find_attributes steps ask: diagnosis finds body
    damage on about 15 % of the vehicles not flagged at intake; the rest of the mix is the
    same as without it."""
    mix = layout.generated(180, 1).vehicles
    found = [v for v in mix if v.found]
    assert all(v.found == {"diagnosis": {"needs_bodywork": True}} for v in found)
    assert not any(v.attributes["needs_bodywork"] for v in found)
    unflagged = [v for v in mix if not v.attributes["needs_bodywork"]]
    assert 0.08 < len(found) / len(unflagged) < 0.25
    gates = [op.operation for op in layout.route.operations if op.gate]
    plain = generated(180, 1, gates=gates, noread_station=layout.checkin).vehicles
    assert [v.model_copy(update={"found": {}}) for v in mix] == plain


# --- parallel stations and the plant on one machine -------------------------------------------

LINES = ROOT / "configs" / "lines"
DOUBLED = LINES / "line1-doubled.yaml"


def test_line1_doubled_both_studios_take_vehicles_a_misroute_between_them_refused_if_real() -> None:
    """Two photo studios: each takes vehicles; a vehicle due at photo is taken at the
    studio it was not sent to, one that had its photos is refused there (turning back)."""
    scenario = ROOT / "configs" / "scenarios" / "line1-doubled-studios.yaml"
    output = station_line("--scenario", str(scenario), lines=(DOUBLED,))
    assert output.returncode == 0, output.stderr
    document = output.document
    assert document["conservation"] == {"ok": True, "problems": []}
    photo = {
        v["vin"]: [s["station"] for s in v["journey"] if s["operation"] == "photo"]
        for v in document["vehicles"]
    }
    studios = {"photo-studio", "photo-studio-2"}
    assert {station for stations in photo.values() for station in stations} == studios
    assert photo["WBA8E9C58GK200003"] == ["photo-studio-2"]  # misrouted, photo due: taken
    assert photo["ZFA31200800200004"] == ["photo-studio", "photo-studio-2"]
    finals = {v["vin"]: v["final"] for v in document["vehicles"]}
    assert finals == dict.fromkeys(photo, "released") | {"ZFA31200800200004": "held"}
    assert [
        (v["vin"], v["station"], v["kind"], v["expected"], v["found"])
        for v in document["violations"]
    ] == [("ZFA31200800200004", "photo-studio-2", "turning_back", "quality-control", "photo")]
    cycles = {s["station"]: s["cycles"] for s in document["stations"]}
    assert cycles["photo-studio"] >= 1 and cycles["photo-studio-2"] >= 2


def test_two_lines_on_one_machine_each_in_a_process_of_its_own(tmp_path: Path) -> None:
    """Two line files, a vehicle each (the four lines together, by hand and in the line
    benchmark: a suite run holds two, for its time)."""
    lines = (LINES / "line2-express.yaml", LINES / "line3-ev.yaml")
    output = station_line("--vehicles", "1", lines=lines, state_dir=tmp_path / "plant")
    assert output.returncode == 0, output.stderr
    document = output.document
    assert [line["line"] for line in document["lines"]] == ["line-2", "line-3"]
    assert document["conservation"] == {"ok": True, "problems": []}
    assert document["released"] + document["held"] == 2 and document["unexpected"] == []
    for line in document["lines"]:
        assert line["conservation"]["ok"] and len(line["vehicles"]) == 1
        assert line["run_dir"] == str(tmp_path / "plant" / line["line"])
        first = line["vehicles"][0]["journey"][0]["station"]
        assert first == f"l{line['line'][-1]}-reception"
    plain = [text for text in output.stderr.splitlines() if " 1/1 " in text]
    assert sorted(text.split(":")[0] for text in plain) == ["line-2", "line-3"]


def test_a_line_twice_or_a_station_on_two_lines_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    configs = ["--config", str(LINE), "--config", str(DOUBLED)]
    assert main(["line", *configs, "--simulate", "--vehicles", "1"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0] == f"{DOUBLED}: line line-1 is also {LINE}"
    assert f"{DOUBLED}: station 'reception' is also on {LINE}" in errors
    scenario = ["--scenario", str(SCENARIO), "--plant"]
    line2 = ["--config", str(LINES / "line2-express.yaml")]
    assert main(["line", "--config", str(LINE), *line2, "--simulate", *scenario]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "station line: --scenario goes with one --config (several: --vehicles N)",
        "station line: --plant goes with one --config",
    ]


# --- bad input ---------------------------------------------------------------------------------


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["line", "--config", str(LINE), "--vehicles", "0"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "station line: runs simulated hardware only: add --simulate",
        "station line: --vehicles must be >= 1 (got 0)",
    ]


def test_a_line_without_station_files_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line2 = tmp_path / "lines" / "line2-express.yaml"
    line2.parent.mkdir()
    shutil.copy(ROOT / "configs" / "lines" / "line2-express.yaml", line2)
    assert main(["line", "--config", str(line2), "--simulate", "--vehicles", "2"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 7  # six stations of the route and the rework bay
    assert errors[0].startswith(f"{line2}: no station file in ")
    assert "for station 'l2-reception'" in errors[0]


def test_a_scenario_naming_what_the_line_lacks_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "vehicles:\n"
        "  - vin: VF3LCYHZ6HS100003\n"
        "    verdicts: {photo: [fail]}\n"
        "misroutes:\n"
        "  - {vin: VF3LCYHZ6HS100003, station: paint-shop, after: photo}\n"
    )
    assert main(["line", "--config", str(LINE), "--simulate", "--scenario", str(scenario)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith(f"{scenario}:3: vehicles[0].verdicts.photo: not a gate of line")
    assert errors[1].startswith(f"{scenario}:5: misroutes[0].station: no station 'paint-shop'")
    assert len(errors) == 2


def test_a_used_state_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "journal.sqlite3").write_text("")
    options = ["--simulate", "--vehicles", "1", "--state-dir", str(tmp_path)]
    assert main(["line", "--config", str(LINE), *options]) == 2
    assert capsys.readouterr().err.strip() == (
        f"--state-dir {tmp_path}: not empty (a line run needs a new folder)"
    )
