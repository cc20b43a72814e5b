"""End to end: a real station (`station run --simulate --broker`) streams its journal
through a real Mosquitto to the collector, which stores it in either database; `station
passport` then tells each vehicle's visit as the station journaled it. And the plant
commands' bad input: one line, exit 1 for an unknown VIN (with the nearest), 2 for a bad
--db, an unreachable database or broker."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mqtt_broker import Broker, free_port, requires_mosquitto
from plant_rig import collecting, event, incoming
from test_uplink_station import start_station, station_journal_has

from station.journal import GENESIS_HASH, JournalReader
from station.plant.passport import passport
from station.plant.store import open_store

pytest_plugins = ["mqtt_fixtures"]

VINS = ["VF1RFB00X66123400", "VF1RFB00X66123401"]


def station_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", *args], capture_output=True, text=True, timeout=60
    )


@requires_mosquitto
@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_the_passport_of_a_vehicle_streamed_by_a_real_station(
    tmp_path: Path, plant_broker: Broker, plant_db: str
) -> None:
    state = tmp_path / "state"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("vehicles:\n" + "".join(f"  - {{vin: {vin}}}\n" for vin in VINS))
    async with collecting(plant_broker, plant_db):
        station = await start_station(state, scenario, plant_broker)
        try:
            await station_journal_has(state, "released", len(VINS), station)
            with JournalReader.open(state / "journal.sqlite3") as reader:
                head = reader.last()
            assert head is not None
            passport = await asyncio.to_thread(
                station_cli, "passport", VINS[1], "--db", plant_db, "--json"
            )
            async with asyncio.timeout(30):  # until the plant has the whole visit
                while (
                    json.loads(passport.stdout or "{}").get("visits", [{}])[0].get("result")
                    != "passed"
                ):
                    await asyncio.sleep(0.05)
                    passport = await asyncio.to_thread(
                        station_cli, "passport", VINS[1], "--db", plant_db, "--json"
                    )
        finally:
            station.send_signal(signal.SIGTERM)
            assert await station.wait() == 0
    document = json.loads(passport.stdout)
    assert (document["vin"], document["line"]) == (VINS[1], "line-1")
    (visit,) = document["visits"]
    assert visit["station"] == "photo-studio" and visit["operation"] == "photo"
    assert visit["chain"] == "verified" and document["stations"] == {"photo-studio": "verified"}
    photos = visit["photo_session"]
    assert photos["result"] == "complete" and photos["set_360"] is True
    assert len(photos["manifest"]) == photos["expected"] == 6  # tests/stations/photo-quick.yaml
    angles = {image["angle_deg"] for image in photos["manifest"]}
    assert len(angles) == 4  # every 90 degrees round the table
    image = photos["manifest"][0]
    assert image["problem"] is None and len(image["sha256"]) == 64 and image["name"]
    assert image["time"].endswith("Z") and abs(image["taken_deg"] - image["angle_deg"]) <= 4.0
    assert visit["t_in"] <= visit["t_out"] and document["lead_time_s"] >= 0

    unknown = await asyncio.to_thread(
        station_cli, "passport", "VF1RFB00X66123499", "--db", plant_db
    )
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("station passport: unknown VIN VF1RFB00X66123499; nearest")
    assert VINS[0] in unknown.stderr and "Traceback" not in unknown.stderr


def test_bad_plant_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (("passport", "X", "--db", "mysql://x/y"), "SQLite file path or postgresql"),
        (("passport", "X", "--db", str(tmp_path / "no" / "p.db")), "no directory"),
        (
            ("plant", "verify", "--db", f"postgresql://plant@127.0.0.1:{free_port()}/p"),
            "connecting",
        ),
        (("plant", "--broker", "http://x"), "--broker: must be mqtt://HOST:PORT"),
        (("plant", "--db", str(tmp_path / "p.db")), "--broker URL is required"),
        (
            (
                "plant",
                "--broker",
                f"mqtt://127.0.0.1:{free_port()}",
                "--db",
                str(tmp_path / "p.db"),
            ),
            "unreachable",
        ),
    ]
    for args, message in cases:
        done = station_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        # the error is one line, the last (a started collector has logged before it)
        last = done.stderr.splitlines()[-1]
        assert last.startswith("station ") and message in last, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_the_passport_shows_the_attributes_found_on_the_way(tmp_path: Path) -> None:
    """A diagnosis visit whose operator found body damage (and was asked about nothing
    else): the visit and the passport's top say what was found, where and by whom."""
    vin = VINS[0]
    answer = {
        "attribute": "needs_bodywork",
        "value": True,
        "operation": "diagnosis",
        "source": "typed",
        "question": "body damage?",
    }
    kinds = [
        ("admitted", None, None, {"operation": "diagnosis", "rework": False}),
        ("attribute_found", "found", "olga", answer),
        ("attribute_found", "not_found", "olga", {**answer, "attribute": "ev"}),
        ("cycle_ended", "passed", None, {}),
    ]
    events = []
    previous = GENESIS_HASH
    for seq, (kind, result, operator, data) in enumerate(kinds, 1):
        fields = {"kind": kind, "vin": vin, "result": result, "operator": operator, "data": data}
        events.append(event("diagnosis", seq, previous, **fields))
        previous = events[-1].hash
    store = open_store(str(tmp_path / "plant.sqlite3"))
    try:
        store.migrate()
        store.ingest(incoming(events))
        document = passport(store, vin)
    finally:
        store.close()
    assert document is not None
    (visit,) = document["visits"]
    assert visit["found"] == [{"attribute": "needs_bodywork", "value": True, "operator": "olga"}]
    assert document["found"] == [
        {
            "station": "diagnosis",
            "operation": "diagnosis",
            "attribute": "needs_bodywork",
            "value": True,
            "operator": "olga",
        }
    ]
