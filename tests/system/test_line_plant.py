"""`station line --simulate --plant`: the line with the plant beside it (a Mosquitto the
command starts, the collector, an uplink on every station), the conservation check
extended to the replica; then `station passport` of its vehicles from the plant database.
And its refusals: one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mqtt_broker import Broker, requires_mosquitto

from station.simulation import mosquitto as broker
from station.simulation.line import PlantInputError, _plant

pytest_plugins = ["mqtt_fixtures"]

LINE = "configs/lines/line1.yaml"


def station_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def line_run(*args: str) -> dict:  # type: ignore[type-arg]
    done = station_cli(
        "line", "--config", LINE, "--simulate", "--plant", "--fast", "--json", *args, timeout=420
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    assert document["conservation"] == {"ok": True, "problems": []}
    return document


def passport_stations(vin: str, db: str) -> list[tuple[str, str]]:
    done = station_cli("passport", vin, "--db", db, "--json")
    assert done.returncode == 0, done.stderr
    return [(v["station"], v["result"]) for v in json.loads(done.stdout)["visits"]]


@requires_mosquitto
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_line_run_with_the_plant_and_its_passports(tmp_path: Path) -> None:
    """The acceptance command with 8 vehicles (the suite's 15 minutes); the README's run
    of 30 (about 2.5 minutes on 2 cores) passes the same checks, run by hand."""
    state = tmp_path / "run"
    document = line_run("--vehicles", "8", "--state-dir", str(state))
    assert len(document["vehicles"]) == 8
    assert document["released"] + document["held"] == 8
    db = str(state / "plant.sqlite3")
    for vehicle in (document["vehicles"][0], document["vehicles"][-1]):
        stops = [(stop["station"], stop["result"]) for stop in vehicle["journey"]]
        assert passport_stations(vehicle["vin"], db) == stops
    assert not running_from(state / "broker"), "the broker it started is stopped"


def running_from(folder: Path) -> list[str]:
    """Command lines of the processes naming `folder` (its mosquitto.conf)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in text:
            found.append(text)
    return found


@requires_mosquitto
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_line_into_either_database_through_a_given_broker(
    tmp_path: Path, plant_broker: Broker, plant_db: str
) -> None:
    state = tmp_path / "run"
    document = line_run(
        "--vehicles", "3", "--state-dir", str(state), "--broker", plant_broker.url, "--db", plant_db
    )
    vehicle = document["vehicles"][1]
    stops = [(stop["station"], stop["result"]) for stop in vehicle["journey"]]
    assert passport_stations(vehicle["vin"], plant_db) == stops
    report = station_cli("plant", "report", "--db", plant_db, "--json", "--since", "1h")
    assert report.returncode == 0, report.stderr
    (line,) = json.loads(report.stdout)["lines"]
    assert (line["entered"], line["released"] + line["held"], line["wip"]) == (3, 3, 0)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--broker", "mqtt://127.0.0.1:1883"], "--broker and --db go with --plant"),
        (["--plant", "--broker", "http://x"], "--broker: must be mqtt://"),
    ],
)
def test_plant_options_refused_in_one_line(args: list[str], says: str) -> None:
    done = station_cli("line", "--config", LINE, "--simulate", "--vehicles", "1", *args)
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


async def test_without_mosquitto_and_without_broker_it_says_to_pass_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker, "mosquitto", lambda: None)
    with pytest.raises(PlantInputError, match="mosquitto is not installed; pass --broker URL"):
        async with _plant.plant_side(None, None, tmp_path):
            pass


def test_a_database_already_used_is_refused(tmp_path: Path) -> None:
    from plant_rig import chained, incoming

    from station.plant.store import open_store

    db = str(tmp_path / "used.sqlite3")
    store = open_store(db)
    store.ingest(incoming(chained("reception", 2)))
    store.close()
    done = station_cli(
        "line", "--config", LINE, "--simulate", "--vehicles", "1", "--plant", "--db", db
    )
    assert done.returncode == 2, done.stderr
    assert "already holds stations" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
