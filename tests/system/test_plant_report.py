"""`station plant report` (station.plant.report) against both databases (`plant_db`):
a small plant written as stations journal it, then each figure checked by hand: entered,
released, held with reason and age, WIP, stranded, throughput against the target (per
hour, day and shift), lead time, first-pass yield and rework loops per gate, PackML state
time, the queue per station; the text output and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from plant_rig import event, incoming

from station.config.loader import load_line
from station.journal import GENESIS_HASH, Event
from station.plant.lines import LineFacts, line_facts
from station.plant.report import report
from station.plant.report_rows import KINDS
from station.plant.store import open_store
from station.route import complete, intake
from station.tag import encode
from station.vin import check_digit

T0 = datetime(2026, 12, 4, 6, 0, tzinfo=UTC).timestamp()
DAY = 86400.0
HELD_TAG = (b"VP" + bytes([1, 1]) + bytes(108)).hex()
"""A tag whose hold cause is 1: rework loops used up (station/tag.py's layout)."""


def wall(offset_s: float) -> str:
    return datetime.fromtimestamp(T0 + offset_s, UTC).isoformat(timespec="microseconds")


class Journal:
    """Events of one station, chained in wall-time order (as a station writes them)."""

    def __init__(self, station: str) -> None:
        self.station = station
        self._pending: list[tuple[float, int, dict[str, Any]]] = []

    def add(self, at: float, kind: str, vin: str | None = None, result: str | None = None,
            data: dict[str, Any] | None = None) -> None:  # fmt: skip
        fields = {"kind": kind, "vin": vin, "result": result, "data": data or {}}
        self._pending.append((at, len(self._pending), fields))

    @property
    def events(self) -> list[Event]:
        chained: list[Event] = []
        for at, _, fields in sorted(self._pending, key=lambda p: (p[0], p[1])):
            prev = chained[-1].hash if chained else GENESIS_HASH
            chained.append(event(self.station, len(chained) + 1, prev, wall=wall(at), **fields))
        return chained

    def visit(self, at: float, vin: str, operation: str, result: str, **extra: Any) -> None:
        """A cycle: admitted at `at`, what `extra` says, ended `result` 60 s later."""
        self.add(at, "admitted", vin, data={"operation": operation, "rework": False})
        if "verdict" in extra:
            self.add(at + 30, "verdict", vin, extra["verdict"])
        if "tag" in extra:
            self.add(at + 40, "tag_write", vin, data={"tag": extra["tag"], "seq": 1})
        if operation == "exit" and result == "passed":
            self.add(at + 50, "released", vin, "passed")
        self.add(at + 60, "cycle_ended", vin, result)


def plant() -> list[Journal]:
    reception, tc, rework, exit_ = (
        Journal(s) for s in ("reception", "technical-control", "rework-bay", "exit")
    )
    reception.visit(-DAY, "OLD", "intake", "passed")  # before the window: WIP, stranded
    reception.visit(100, "V1", "intake", "passed")
    tc.visit(400, "V1", "technical-control", "passed", verdict="pass")
    exit_.visit(1000, "V1", "exit", "passed")
    reception.visit(200, "V2", "intake", "passed")
    tc.visit(500, "V2", "technical-control", "failed", verdict="fail")
    rework.visit(700, "V2", "rework", "rework")
    tc.visit(900, "V2", "technical-control", "passed", verdict="pass")
    exit_.visit(1300, "V2", "exit", "passed")
    reception.add(300, "admitted", "V3", data={"operation": "intake", "rework": False})
    reception.add(310, "hold", "V3", "id_mismatch", {"message": "tag says V9"})
    reception.add(320, "cycle_ended", "V3", "held")
    reception.visit(400, "V4", "intake", "passed")
    tc.visit(1100, "V4", "technical-control", "failed", verdict="fail", tag=HELD_TAG)
    reception.visit(500, "V5", "intake", "passed")
    tc.add(2000, "admitted", "V5", data={"operation": "technical-control", "rework": False})
    tc.add(0, "state", result="Idle")
    tc.add(1, "state", result="Execute")
    tc.add(601, "state", result="Held")
    tc.add(661, "state", result="Execute")
    return [reception, tc, rework, exit_]


@pytest.fixture
def db(plant_db: str) -> str:
    store = open_store(plant_db)
    try:
        for journal in plant():
            store.ingest(incoming(journal.events))
    finally:
        store.close()
    return plant_db


def figures(db: str, **options: Any) -> dict[str, Any]:
    store = open_store(db)
    try:
        return report(store, T0, T0 + 3600, **options)
    finally:
        store.close()


def test_every_figure_of_a_small_plant(db: str) -> None:
    document = figures(db, stranded_after_s=1800)
    assert (document["since"], document["until"]) == (wall(0), wall(3600))
    (line,) = document["lines"]
    assert line["line"] == "line-1"
    assert (line["entered"], line["released"], line["held"], line["wip"]) == (5, 2, 2, 2)
    assert line["throughput_per_hour"] == 2.0
    assert line["throughput_per_day"] == 48.0
    assert line["target_per_day"] == 45, "no line file: the plant's 180 over 4 lines"
    # lead times: V1 100 -> 1050, V2 200 -> 1350
    assert line["lead_time_s"] == {"p50": 950.0, "p90": 1150.0}
    (gate,) = line["gates"]
    assert gate == {
        "operation": "technical-control",
        "first_pass_yield": 0.3333,
        "vehicles": 3,
        "failed_cycles": 2,
        "rework_loops": 1,
        "held_after_fail": 1,
    }
    held = {h["vin"]: h for h in line["held_vehicles"]}
    assert held["V3"]["reason"] == "id_mismatch: tag says V9"
    assert held["V3"]["station"] == "reception"
    assert held["V3"]["age_s"] == 3600 - 320
    assert held["V4"]["reason"].startswith("rework_exhausted at technical-control")
    assert [s["vin"] for s in line["stranded"]] == ["OLD"]
    stations = {s["station"]: s for s in line["stations"]}
    tc = stations["technical-control"]
    assert tc["in_station"] == "V5"
    assert tc["cycles"] == 4
    assert tc["results"] == {"failed": 2, "passed": 2}
    assert tc["state"] == "Execute"
    assert tc["state_time_s"] == {
        "Execute": 600 + 3600 - 661,
        "Held": 60.0,
        "Aborted": 0.0,
        "Suspended": 0.0,
        "Stopped": 0.0,
        "Idle": 1.0,
    }
    assert stations["reception"]["cycles"] == 5, "OLD's cycle was before the window"
    assert document["plant"] == {
        "entered": 5,
        "released": 2,
        "held": 2,
        "wip": 2,
        "stranded": 1,
        "throughput_per_day": 48.0,
        "target_per_day": 180,
    }


def test_a_line_file_gives_the_target_the_gates_and_the_order(db: str) -> None:
    facts = LineFacts(
        target_per_day=60,
        gates=("technical-control", "quality-control"),
        order=("reception", "technical-control", "exit", "rework-bay"),
    )
    (line,) = figures(db, lines={"line-1": facts})["lines"]
    assert line["target_per_day"] == 60
    assert [g["operation"] for g in line["gates"]] == ["technical-control"]
    assert [s["station"] for s in line["stations"]] == list(facts.order)


def test_the_window_is_where_counts_are_taken(db: str) -> None:
    store = open_store(db)
    try:
        early = report(store, T0, T0 + 1200)
        later = report(store, T0 + 1200, T0 + 3600)
    finally:
        store.close()
    assert early["lines"][0]["released"] == 1
    assert later["lines"][0]["released"] == 1
    assert later["lines"][0]["entered"] == 0
    assert later["lines"][0]["wip"] == 2, "vehicles entered earlier are still on the line"


def test_a_database_from_before_the_report_rows_gets_them_and_the_same_report(db: str) -> None:
    """Migration 3 fills the report's rows from the events a database already holds."""
    before = figures(db, stranded_after_s=1800)
    store = open_store(db)
    try:
        with store._transaction() as cursor:  # the database as schema version 2 left it
            cursor.execute("DROP TABLE report_rows")
            cursor.execute("DELETE FROM schema_migrations WHERE version = 3")
    finally:
        store.close()
    assert figures(db, stranded_after_s=1800) == before
    store = open_store(db)
    try:
        with store._reading() as cursor:
            cursor.execute("SELECT COUNT(*) FROM report_rows")
            assert cursor.fetchone()[0] == sum(
                event.kind in KINDS for journal in plant() for event in journal.events
            )
    finally:
        store.close()


def station_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_the_command_prints_the_json_and_the_text(db: str) -> None:
    window = ("--since", wall(0), "--until", wall(3600), "--db", db)
    done = station_cli("plant", "report", *window, "--json", "--stranded-after", "1800")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["plant"]["released"] == 2
    assert document["lines"][0]["stranded"][0]["vin"] == "OLD"
    text = station_cli("plant", "report", *window, "--line-config", "configs/lines/line1.yaml")
    assert text.returncode == 0, text.stderr
    assert "line line-1: entered 5, released 2, held 2, WIP 2" in text.stdout
    assert "gate technical-control" in text.stdout
    assert "held V3 at reception" in text.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "yesterday-ish"], "is not a time"),
        (["--since", "2026-12-05", "--until", "2026-12-04"], "--until must be after --since"),
        (["--line-config", "no-such-line.yaml"], "--line-config"),
        (["--stranded-after", "-5"], "--stranded-after"),
        (["--db", "mysql://somewhere/plant"], "--db must be"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    done = station_cli("plant", "report", "--db", str(tmp_path / "p.sqlite3"), *args)
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


LINE1 = Path(__file__).resolve().parents[2] / "configs" / "lines" / "line1.yaml"


def a_vin(serial: int) -> str:
    vin = f"VF1RFB00X66{serial:06d}"
    return f"{vin[:8]}{check_digit(vin)}{vin[9:]}"


def test_the_queue_of_a_station_is_read_from_the_tags(plant_db: str) -> None:
    """V6 left the reception (its tag says diagnosis next) and waits for the diagnosis;
    V7 is in the diagnosis; V8 left the reception, then entered the diagnosis and left
    it: it waits for electromechanics. Without the route (no line file): no queue."""
    facts = line_facts(load_line(LINE1).model)
    assert facts.route is not None
    route = facts.route
    reception, diagnosis = Journal("reception"), Journal("diagnosis")
    progress = {}
    for at, serial in ((100, 6), (200, 7), (300, 8)):
        vin = a_vin(serial)
        after = complete(route, intake(route, vin, {}), "intake", "passed").next_write()
        progress[vin] = after
        reception.visit(at, vin, "intake", "passed", tag=encode(after, route).hex())
    v7, v8 = a_vin(7), a_vin(8)
    diagnosis.add(900, "admitted", v7, data={"operation": "diagnosis", "rework": False})
    done = complete(route, progress[v8], "diagnosis", "passed").next_write()
    diagnosis.visit(600, v8, "diagnosis", "passed", tag=encode(done, route).hex())
    store = open_store(plant_db)
    try:
        for journal in (reception, diagnosis):
            store.ingest(incoming(journal.events))
        with_route = report(store, T0, T0 + 3600, lines={"line-1": facts})
        without = report(store, T0, T0 + 3600)
    finally:
        store.close()
    stations = {s["station"]: s for s in with_route["lines"][0]["stations"]}
    assert stations["diagnosis"]["queue"] == 1
    assert stations["diagnosis"]["queued"] == [{"vin": a_vin(6), "since": wall(160)}]
    assert stations["diagnosis"]["in_station"] == v7
    assert stations["reception"]["queue"] == 0
    assert [s["queue"] for s in without["lines"][0]["stations"]] == [None, None]


def test_throughput_per_shift(db: str) -> None:
    """V1 and V2 were released at 06:17 and 06:22 UTC, within the first hour."""
    two = LineFacts(shifts=(("early", "06:00"), ("late", "18:00")), timezone="UTC")
    (line,) = figures(db, lines={"line-1": two})["lines"]
    assert line["throughput_per_shift"] == [
        {"shift": "early", "start": "06:00", "hours": 12.0, "covered_h": 1.0, "released": 2,
         "per_shift": 24.0, "target_per_shift": 22.5},
        {"shift": "late", "start": "18:00", "hours": 12.0, "covered_h": 0.0, "released": 0,
         "per_shift": None, "target_per_shift": 22.5},
    ]  # fmt: skip
    paris = LineFacts(timezone="Europe/Paris")  # 06:00 UTC is 07:00 there: the morning
    (line,) = figures(db, lines={"line-1": paris})["lines"]
    shifts = {s["shift"]: s for s in line["throughput_per_shift"]}
    assert [s["shift"] for s in line["throughput_per_shift"]] == ["morning", "afternoon", "night"]
    assert (shifts["morning"]["released"], shifts["morning"]["covered_h"]) == (2, 1.0)
    assert shifts["morning"]["target_per_shift"] == 15.0
