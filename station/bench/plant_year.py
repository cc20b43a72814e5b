"""The plant benchmark's year: a plant's journals (`plant_journals`) written straight into
a plant database in bulk (not through MQTT: the rows the collector would have stored,
chains verified, heads saved), then the reads the commands make timed on it.

Writing: the schema by `open_store` (every migration), then each station's events in
order with their report rows (`station.plant.report_rows`), SQLite by `executemany` in
transactions of `CHUNK` rows (synchronous=OFF and a large cache for the load only: the
time to write is not a figure), PostgreSQL by `COPY`.

Timed, with the functions the commands use: `station passport VIN`
(`station.plant.passport.passport`) for random VINs, the report of a day and of the
whole period (`station.plant.report.report`, with the lines' facts as `--line-config`
gives them).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from station.bench.plant_journals import Plant
from station.journal import canonical_json
from station.journal.event import COLUMNS
from station.plant import report_rows
from station.plant.lines import line_facts
from station.plant.passport import passport
from station.plant.report import report
from station.plant.store import _EVENT_COLUMNS, _SAVE_HEAD, POSTGRES_SCHEMES, open_store

CHUNK = 100_000
DAY = 86400.0
_DATA = COLUMNS.index("data")


def _rows(
    plant: Plant, station: str, line: str
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...] | None]]:
    """Each event's row in `events` and its report row (None for a kind the report
    does not read)."""
    for event in plant.events(station):
        values = [getattr(event, name) for name in COLUMNS]
        values[_DATA] = canonical_json(event.data)
        yield (*values, line, "ok", None), report_rows.row_of(event, line)


def _heads(plant: Plant, written: dict[str, tuple[int, str]]) -> list[tuple[Any, ...]]:
    return [
        (name, plant.stations[name].line, seq, last, seq, None)
        for name, (seq, last) in sorted(written.items())
    ]


def write_sqlite(plant: Plant, path: str) -> int:
    """Every station's events into the SQLite file at `path`; how many."""
    open_store(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -1000000")  # KiB: 1 GB, the indexes stay in memory
        insert = (
            f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
        )
        written: dict[str, tuple[int, str]] = {}
        for name, station in sorted(plant.stations.items()):
            rows = _rows(plant, name, station.line)
            while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
                db.execute("BEGIN")
                db.executemany(insert, [event for event, _ in chunk])
                db.executemany(report_rows.INSERT, [r for _, r in chunk if r is not None])
                db.execute("COMMIT")
                last = chunk[-1][0]
                written[name] = (last[0], last[COLUMNS.index("hash")])
        db.execute("BEGIN")
        db.executemany(_SAVE_HEAD, _heads(plant, written))
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("ANALYZE")
    finally:
        db.close()
    return sum(seq for seq, _ in written.values())


def write_postgres(plant: Plant, url: str) -> int:
    """Every station's events into the PostgreSQL database at `url` (COPY); how many."""
    import psycopg

    open_store(url).close()
    written: dict[str, tuple[int, str]] = {}
    hash_at = COLUMNS.index("hash")
    with psycopg.connect(url) as db:
        for name, station in sorted(plant.stations.items()):
            reported = []
            with db.cursor() as cursor:
                copy = f"COPY events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN"
                with cursor.copy(copy) as stream:
                    for row, report_row in _rows(plant, name, station.line):
                        stream.write_row(row)
                        written[name] = (row[0], row[hash_at])
                        if report_row is not None:
                            reported.append(report_row)
                copy = f"COPY report_rows ({', '.join(report_rows.COLUMNS)}) FROM STDIN"
                with cursor.copy(copy) as stream:
                    for report_row in reported:
                        stream.write_row(report_row)
            db.commit()
        with db.cursor() as cursor:
            cursor.executemany(_SAVE_HEAD.replace("?", "%s"), _heads(plant, written))
            db.commit()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE events")
        db.execute("VACUUM ANALYZE report_rows")
    return sum(seq for seq, _ in written.values())


def write(plant: Plant, db: str) -> int:
    if db.startswith(POSTGRES_SCHEMES):
        return write_postgres(plant, db)
    return write_sqlite(plant, db)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def timed_reads(plant: Plant, db: str, samples: int, seed: int) -> dict[str, Any]:
    """The passport of `samples` random VINs, a day's report, the whole period's."""
    facts = {model.line: line_facts(model) for model in plant.lines}
    vins = plant.vins
    chosen = random.Random(seed).sample(vins, min(samples, len(vins)))
    store = open_store(db)
    try:
        took = []
        visits = 0
        for vin in chosen:
            start = time.perf_counter()
            document = passport(store, vin)
            took.append(time.perf_counter() - start)
            visits += len(document["visits"]) if document else 0
        took.sort()
        middle = plant.start + (plant.end - plant.start) / 2
        day = middle - middle % DAY
        start = time.perf_counter()
        daily = report(store, day, day + DAY, lines=facts)
        day_s = time.perf_counter() - start
        start = time.perf_counter()
        whole = report(store, plant.start, plant.end, lines=facts)
        whole_s = time.perf_counter() - start
    finally:
        store.close()
    return {
        "passport_ms": {
            "vins": len(chosen),
            "median": _ms(statistics.median(took)) if took else None,
            "p95": _ms(took[max(0, -(-len(took) * 95 // 100) - 1)]) if took else None,
            "max": _ms(took[-1]) if took else None,
            "visits_per_vin": round(visits / max(len(chosen), 1), 1),
        },
        "day_report_s": round(day_s, 3),
        "day_report_released": daily["plant"]["released"],
        "period_report_s": round(whole_s, 3),
        "period_report_released": whole["plant"]["released"],
        "period_days": round((plant.end - plant.start) / DAY, 1),
    }


def size_bytes(path: str) -> int:
    """A SQLite database's bytes on disk (its WAL and shared memory too)."""
    return sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal", "-shm")
        if Path(f"{path}{suffix}").exists()
    )
