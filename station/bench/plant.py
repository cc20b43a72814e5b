"""Plant benchmark: `python -m station.bench.plant [--vehicles N] [--skip-...]`, prints JSON.

The plant is 4 lines of line 1's route (44 stations), its journals written as the
stations write them, every chain valid (`station.bench.plant_journals`).

- `ingest`: the journals of `--ingest-vehicles` vehicles (default 600: about 180,000
  events) published by the 44 stations at once to Debian's mosquitto and stored by the
  real collector (`station.bench.plant_ingest`), into SQLite (a file in `--dir`) and into
  PostgreSQL (a throwaway server, fsync on, `station.bench.scratch_postgres`): events/s
  from the first publish to the last station's ack, the collector's CPU, and whether its
  chain check passed (every head verified, no plant alarm, every event acknowledged).
  Beside it, `mqtt_floor`: the same streams received by the collector's MQTT client
  alone (its settings, each message acknowledged, nothing done with it): messages/s and
  CPU a message, the ceiling one event a message puts on any collector in one process.
- `year`: `--vehicles` vehicles (default 45,000: a year of the plant, about 14 million
  events, 250 working days) written straight into SQLite (and PostgreSQL with
  `--year-postgres`) in bulk (`station.bench.plant_year`): the database's size, the time
  of `station passport VIN` for `--samples` random VINs (median, p95, max), of a day's
  report and of the whole period's. `--year-db FILE` keeps the SQLite year, and a second
  run with it only times the reads (writing 14 million events takes 15-20 minutes).

Targets (issue 15, this 2-core machine): ingest >= 20,000 events/s into SQLite, >=
10,000/s into PostgreSQL; passport <= 50 ms, a day's report <= 1 s, a year's <= 10 s.

    {"ingest": {"sqlite": {...}, "postgresql": {...}, "mqtt_floor": {...}},
     "year": {"vehicles": N, "events": N, "plan_s": ..., "sqlite": {"write_s": ...,
              "size_mib": ..., "passport_ms": {...}, "day_report_s": ...,
              "period_report_s": ...}, "postgresql": {...}}}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station import logs
from station.bench.plant_ingest import client_floor, ingest
from station.bench.plant_journals import Plant, plant
from station.bench.plant_year import size_bytes, timed_reads, write
from station.bench.scratch_postgres import scratch_postgres
from station.plant.store import open_store


def _ingest(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    sample = plant(args.ingest_vehicles, args.lines, start=args.start, seed=args.seed)
    figures = {"sqlite": asyncio.run(ingest(sample, str(folder / "ingest.sqlite3"), folder))}
    figures["mqtt_floor"] = asyncio.run(client_floor(sample, folder / "floor"))
    if not args.skip_postgres:
        with scratch_postgres(durable=True) as server:
            url = server.url(server.new_database("bench_ingest"))
            figures["postgresql"] = asyncio.run(ingest(sample, url, folder / "postgres"))
    return figures


def _year_in(
    year: Plant, db: str, args: argparse.Namespace, written: bool = False
) -> dict[str, Any]:
    """Write the year into `db` (unless `written`), then time its reads."""
    figures: dict[str, Any] = {}
    if written:
        store = open_store(db)
        try:
            figures["events"] = sum(head.head_seq for head in store.heads())
        finally:
            store.close()
        figures["write_s"] = None
    else:
        start = time.perf_counter()
        figures["events"] = write(year, db)
        figures["write_s"] = round(time.perf_counter() - start)
    return figures | timed_reads(year, db, args.samples, args.seed)


def _year(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    start = time.perf_counter()
    year = plant(args.vehicles, args.lines, start=args.start, seed=args.seed)
    figures: dict[str, Any] = {
        "vehicles": args.vehicles,
        "stations": len(year.stations),
        "plan_s": round(time.perf_counter() - start, 1),
    }
    path = str(args.year_db or folder / "year.sqlite3")
    sqlite = _year_in(year, path, args, written=args.year_db is not None and args.year_db.exists())
    figures["sqlite"] = {**sqlite, "size_mib": round(size_bytes(path) / 2**20, 1)}
    figures["events"] = sqlite["events"]
    if args.year_postgres:
        with scratch_postgres() as server:
            name = server.new_database("bench_year")
            postgres = _year_in(year, server.url(name), args)
            figures["postgresql"] = {**postgres, "size_mib": round(server.size(name) / 2**20, 1)}
    return figures


def _day(text: str) -> float:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m station.bench.plant",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--vehicles", type=int, default=45_000, metavar="N",
                        help="vehicles of the year (default 45,000)")  # fmt: skip
    parser.add_argument("--ingest-vehicles", type=int, default=600, metavar="N",
                        help="vehicles whose journals are ingested (default 600)")  # fmt: skip
    parser.add_argument("--lines", type=int, default=4, choices=range(1, 9), metavar="N")
    parser.add_argument("--start", type=_day, default=_day("2026-01-05"), metavar="DAY",
                        help="the first day (default 2026-01-05, a Monday)")  # fmt: skip
    parser.add_argument("--samples", type=int, default=100, help="VINs whose passport is timed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-year", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--year-postgres", action="store_true",
                        help="also write the year into PostgreSQL and time its reads")  # fmt: skip
    parser.add_argument("--dir", type=Path, help="where the databases are written (default /tmp)")
    parser.add_argument("--year-db", type=Path, metavar="FILE",
                        help="the year's SQLite file, kept: written if absent, else only "
                        "its reads timed (same --vehicles, --lines, --start, --seed)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.vehicles < 1 or args.ingest_vehicles < 1 or args.samples < 1:
        parser.error("--vehicles, --ingest-vehicles and --samples must be 1 or more")
    logs.configure("warning")  # stdout is the JSON's
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="plant-bench-") as directory:
        folder = Path(directory)
        if not args.skip_ingest:
            figures["ingest"] = _ingest(args, folder)
        if not args.skip_year:
            figures["year"] = _year(args, folder)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
