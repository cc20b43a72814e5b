"""`station journal show [--vin VIN] [--state-dir DIR] [--json] [--limit N]`.

The record of one vehicle (its passport: every event of that VIN at this station, in
order) or of the station (its last N events, default 50). Reads the journal without
locking it: safe while the station runs. `--limit N` keeps the last N events in both
cases.

Human-readable: one header line, then a table (seq, wall time UTC, kind, VIN, step,
result, operator, data as compact JSON). Every character a terminal may act on
(newline, ESC, other controls) is printed escaped (`\\n`, `\\x1b`): a field cannot forge
a line or clear the screen. A row that does not verify (its own hash, its link to the
row before, its station) has `!` before its seq, and its problems follow the table; a
wall time that is no timestamp is printed as stored.

`--json` prints one document:

    {"station": "photo-studio", "vin": "VF1..." or null,
     "events": [{"seq": 1, "station": ..., "kind": ..., "vin": ..., "step": ...,
                 "result": ..., "operator": ..., "config_hash": ..., "mono_ns": ...,
                 "boot_id": ..., "wall": ..., "data": {...}, "prev_hash": ...,
                 "hash": ..., "verified": true, "problems": []}, ...]}

each event with every field of `station.journal.Event`, oldest first, and whether its
row verifies (`verified`, and the `problems` when not).

Exit 0; 2 with a message on stderr when there is no journal in the state directory (or
it is no directory) or the file is not a journal.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from station.commands.journal_verify import counted
from station.state_dir import (
    StateDirError,
    add_state_dir_argument,
    journal_path,
    resolve_state_dir,
)

if TYPE_CHECKING:
    from station.journal import CheckedEvent

DEFAULT_STATION_LIMIT = 50
NOT_VERIFIED = "!"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vin", help="show this vehicle's passport: its every event, in order")
    add_state_dir_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON (shape: see the docs)")
    parser.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        help=f"the last N events (default: {DEFAULT_STATION_LIMIT} for the station, "
        "all for a vehicle)",
    )


def run(args: argparse.Namespace) -> int:
    from station.journal import JournalError, JournalReader, printable

    try:
        reader = JournalReader.open(journal_path(resolve_state_dir(args.state_dir, create=False)))
    except (StateDirError, JournalError) as exc:
        print(printable(f"station journal show: {exc}"), file=sys.stderr)
        return 2
    with reader:
        events: list[CheckedEvent]
        if args.vin is not None:
            events = reader.checked_events(vin=args.vin)
            if args.limit is not None:
                events = events[-args.limit :]
            title = (
                f"passport of {args.vin} at station {reader.station}: "
                f"{counted(len(events), 'event')}"
            )
        else:
            count = reader.head_seq()
            limit = args.limit or DEFAULT_STATION_LIMIT
            events = reader.checked_events(after_seq=max(0, count - limit))
            title = (
                f"journal of station {reader.station}: last {len(events)} of "
                f"{counted(count, 'event')}"
            )
    if args.json:
        document = {
            "station": reader.station,
            "vin": args.vin,
            "events": [
                {**e.event.to_dict(), "verified": e.verified, "problems": e.problems}
                for e in events
            ],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(printable(title))
        if events:
            print(_table(events))
        for problem in (p for e in events for p in e.problems):
            print(f"{NOT_VERIFIED} {printable(problem)}")
    return 0


def _wall(text: str) -> str:
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _table(events: list[CheckedEvent]) -> str:
    from station.journal import printable

    headers = ("seq", "wall (UTC)", "kind", "vin", "step", "result", "operator", "data")
    rows = [
        tuple(
            printable(cell)
            for cell in (
                f"{'' if c.verified else NOT_VERIFIED}{e.seq}",
                _wall(e.wall),
                e.kind,
                e.vin or "-",
                e.step or "-",
                e.result or "-",
                e.operator or "-",
                json.dumps(e.data, ensure_ascii=False, separators=(",", ":")) if e.data else "",
            )
        )
        for c in events
        for e in (c.event,)
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in [headers, *rows]
    )
