"""The plant benchmark (`python -m station.bench.plant`) at a tiny size: a line of 11
stations, 2 vehicles ingested through a real mosquitto and the real collector into SQLite
and PostgreSQL, 3 vehicles written in bulk into SQLite; its JSON has every figure, the
collector's chain check passed (the shape and the check, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mqtt_broker import requires_mosquitto

from station.bench.scratch_postgres import postgres_bin

pytestmark = [
    requires_mosquitto,
    pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL not installed"),
]


def test_the_plant_bench_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "station.bench.plant", "--lines", "1", "--ingest-vehicles", "2",
         "--vehicles", "3", "--samples", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    for database in ("sqlite", "postgresql"):
        ingest = figures["ingest"][database]
        assert ingest["stations"] == 11
        assert 200 < ingest["events"] == ingest["acked"] == ingest["stored"]["events"]
        assert ingest["chain_check_passed"] is True
        assert ingest["events_per_s"] > 0 and ingest["collector_cpu_s"] > 0
    floor = figures["ingest"]["mqtt_floor"]
    assert floor["received"] == floor["messages"] == figures["ingest"]["sqlite"]["events"]
    assert floor["messages_per_s"] > 0 and floor["cpu_us_per_message"] > 0
    assert floor["publishers_ok"] is True
    year = figures["year"]
    assert (year["vehicles"], year["stations"]) == (3, 11)
    sqlite = year["sqlite"]
    assert sqlite["events"] == year["events"] > 600
    assert sqlite["size_mib"] > 0
    assert sqlite["passport_ms"]["vins"] == 2
    assert 0 < sqlite["passport_ms"]["median"] <= sqlite["passport_ms"]["p95"]
    assert sqlite["passport_ms"]["visits_per_vin"] >= 8, "line 1 without bodywork and battery"
    assert sqlite["day_report_s"] > 0 and sqlite["period_report_s"] > 0
    assert sqlite["period_report_released"] == 3


def test_a_kept_year_is_read_again_without_writing_it(tmp_path: Path) -> None:
    kept = tmp_path / "year.sqlite3"
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "station.bench.plant", "--lines", "1", "--skip-ingest",
             "--vehicles", "3", "--samples", "2", "--year-db", str(kept)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout)["year"]["sqlite"])
    written, read_again = runs
    assert kept.exists()
    assert written["write_s"] is not None and read_again["write_s"] is None
    assert read_again["events"] == written["events"] > 600
    assert read_again["period_report_released"] == written["period_report_released"] == 3
