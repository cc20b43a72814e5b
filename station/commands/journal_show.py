"""`station journal show [--vin VIN] [--state-dir DIR] [--json] [--limit N]`.

The record of one vehicle (its passport: every event of that VIN at this station, in
order) or of the station (its last N events, default 50). Reads the journal without
locking it: safe while the station runs. `--limit N` keeps the last N events in both
cases.

Human-readable: one header line, then a table (seq, wall time UTC, kind, VIN, step,
result, operator, data as compact JSON).

`--json` prints one document:

    {"station": "photo-studio", "vin": "VF1..." or null,
     "events": [{"seq": 1, "station": ..., "kind": ..., "vin": ..., "step": ...,
                 "result": ..., "operator": ..., "config_hash": ..., "mono_ns": ...,
                 "boot_id": ..., "wall": ..., "data": {...}, "prev_hash": ...,
                 "hash": ...}, ...]}

each event with every field of `station.journal.Event`, oldest first.

Exit 0; 2 with a message on stderr when there is no journal in the state directory or
the file is not a journal.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from station.state_dir import add_state_dir_argument, journal_path, resolve_state_dir

if TYPE_CHECKING:
    from station.journal import Event

DEFAULT_STATION_LIMIT = 50


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
    from station.journal import JournalError, JournalReader

    path = journal_path(resolve_state_dir(args.state_dir, create=False))
    try:
        reader = JournalReader.open(path)
    except JournalError as exc:
        print(f"station journal show: {exc}", file=sys.stderr)
        return 2
    with reader:
        events: list[Event]
        if args.vin is not None:
            events = reader.events(vin=args.vin)
            if args.limit is not None:
                events = events[-args.limit :]
            title = f"passport of {args.vin} at station {reader.station}: {len(events)} events"
        else:
            head = reader.last()
            limit = args.limit or DEFAULT_STATION_LIMIT
            events = [] if head is None else reader.events(after_seq=max(0, head.seq - limit))
            count = 0 if head is None else head.seq
            title = f"journal of station {reader.station}: last {len(events)} of {count} events"
    if args.json:
        document = {
            "station": reader.station,
            "vin": args.vin,
            "events": [event.to_dict() for event in events],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(title)
        if events:
            print(_table(events))
    return 0


def _table(events: list[Event]) -> str:
    headers = ("seq", "wall (UTC)", "kind", "vin", "step", "result", "operator", "data")
    rows = [
        (
            str(e.seq),
            datetime.fromisoformat(e.wall).strftime("%Y-%m-%d %H:%M:%S"),
            e.kind,
            e.vin or "-",
            e.step or "-",
            e.result or "-",
            e.operator or "-",
            json.dumps(e.data, ensure_ascii=False, separators=(",", ":")) if e.data else "",
        )
        for e in events
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in [headers, *rows]
    )
