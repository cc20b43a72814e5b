"""The plant database's schema, versioned: numbered SQL migrations kept here.

`MIGRATIONS[n]` is migration n+1: a name and its statements. `{id}` in a statement is the
dialect's auto-numbered primary key (the one difference between SQLite and PostgreSQL
here). The table `schema_migrations` (version, name, applied) records what is applied;
`Store` applies the missing ones in order, in one transaction, when it opens the database
(on PostgreSQL under an advisory lock, so two collectors starting together do not both
migrate). A migration once released is never edited: a change is a new one appended. A
step may be a function (`Step`): migration 3 fills the report's rows from the events
already stored (`station.plant.report_rows`).

Event columns are the journal's own (`station.journal.event.COLUMNS`, data as the
canonical JSON text the station hashed) plus where the plant got it (`line`) and its
chain status (`station.plant.chain`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from station.plant import report_rows

Step = str | Callable[[Any, Callable[[str], str]], None]
"""A statement (`{id}` replaced), or a function of a cursor in the migration's
transaction and the dialect's placeholder translation (`Store._sql`): for a step SQL
cannot say the same way on both databases."""

CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"
)

MIGRATIONS: list[tuple[str, list[Step]]] = [
    (
        "events, stations and plant alarms",
        [
            """CREATE TABLE events (
                station TEXT NOT NULL,
                seq BIGINT NOT NULL,
                kind TEXT NOT NULL,
                vin TEXT,
                step TEXT,
                result TEXT,
                operator TEXT,
                config_hash TEXT NOT NULL,
                mono_ns BIGINT NOT NULL,
                boot_id TEXT NOT NULL,
                wall TEXT NOT NULL,
                data TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                line TEXT NOT NULL,
                status TEXT NOT NULL,
                problem TEXT,
                PRIMARY KEY (station, seq)
            )""",
            "CREATE INDEX events_vin ON events (vin, station, seq) WHERE vin IS NOT NULL",
            """CREATE TABLE stations (
                station TEXT PRIMARY KEY,
                line TEXT NOT NULL,
                head_seq BIGINT NOT NULL,
                head_hash TEXT NOT NULL,
                max_seq BIGINT NOT NULL,
                broken_seq BIGINT
            )""",
            """CREATE TABLE plant_alarms (
                id {id},
                wall TEXT NOT NULL,
                station TEXT,
                seq BIGINT,
                kind TEXT NOT NULL,
                text TEXT NOT NULL
            )""",
        ],
    ),
    (
        "the report's index: events by kind and wall time",
        ["CREATE INDEX events_kind_wall ON events (kind, wall)"],
    ),
    (
        "the report's rows: a narrow row per event the report reads",
        [
            """CREATE TABLE report_rows (
                station TEXT NOT NULL,
                seq BIGINT NOT NULL,
                kind TEXT NOT NULL,
                vin TEXT,
                result TEXT,
                t DOUBLE PRECISION NOT NULL,
                line TEXT NOT NULL,
                detail TEXT,
                PRIMARY KEY (station, seq)
            )""",
            # every column: the report reads the index alone, never the table
            "CREATE INDEX report_rows_t ON report_rows "
            "(t, station, seq, kind, vin, result, line, detail)",
            report_rows.fill,
        ],
    ),
]
