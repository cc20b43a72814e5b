"""`station journal show [--vin VIN] [--state-dir DIR] [--json] [--limit N]`.

The record of one vehicle or of the station (its last N events, default 50). Reads the
journal without locking it: safe while the station runs. `--limit N` keeps the last N
events in both cases.

A vehicle's record (its passport at this station) is the events of its visits, in
order: every event naming its VIN, and inside each of its visits (from the visit's
`cycle_started` to its `cycle_ended`, or the journal's head while it is in the station)
the events that name no VIN (the visit's start, no-reads before it was identified, state
changes, alarms); nothing of another vehicle or of the station between vehicles. The VIN
is checked first (`station.vin`: 17 characters, no I, O, Q, the check digit of a North
American VIN) and normalised (upper case, a Code 39 `*` dropped): a bad one exits 2 with
why, on one line. After the table come its measurements (each value as judged, with
its limits: `FAIL: 64.0 % < 70.0 %`) and its findings.

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
row verifies (`verified`, and the `problems` when not). With `--vin`, beside `events`:

    "measurements": [{"seq", "wall", "step", "name", "value", "unit", "decimals", "low",
                      "low_inclusive", "high", "high_inclusive", "ok", "shown", "source",
                      "operator"}, ...],
    "findings": [{"seq", "wall", "step", "code", "severity", "text", "note", "source",
                  "operator"}, ...]

(`shown` is the value as judged, e.g. "FAIL: 64.0 % < 70.0 %"), from the events shown.

Exit 0; 2 with a message on stderr when there is no journal in the state directory (or
it is no directory) or the file is not a journal.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from station.commands.journal_verify import counted
from station.state_dir import (
    StateDirError,
    add_state_dir_argument,
    journal_path,
    resolve_state_dir,
)

if TYPE_CHECKING:
    from station.journal import CheckedEvent, JournalReader

DEFAULT_STATION_LIMIT = 50
NOT_VERIFIED = "!"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _vin(text: str) -> str:
    from station.journal import bound_text, printable
    from station.vin import VinError, parse_vin

    try:
        return parse_vin(bound_text(text, 64)).value
    except VinError as exc:
        raise argparse.ArgumentTypeError(printable(str(exc))) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vin",
        type=_vin,
        help="show this vehicle's passport: the events of its visits, in order, then its "
        "measurements and findings",
    )
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
            events = _vehicle_events(reader, args.vin)
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
    measurements, findings = _gate_data(events) if args.vin is not None else ([], [])
    if args.json:
        document: dict[str, Any] = {
            "station": reader.station,
            "vin": args.vin,
            "events": [
                {**e.event.to_dict(), "verified": e.verified, "problems": e.problems}
                for e in events
            ],
        }
        if args.vin is not None:
            document.update(measurements=measurements, findings=findings)
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(printable(title))
        if events:
            print(_table(events))
        for problem in (p for e in events for p in e.problems):
            print(f"{NOT_VERIFIED} {printable(problem)}")
        for line in _gate_lines(measurements, findings):
            print(printable(line))
    return 0


def _vehicle_events(reader: JournalReader, vin: str) -> list[CheckedEvent]:
    """The events of the vehicle's visits (see the module docstring), oldest first."""
    named = reader.checked_events(vin=vin)
    if not named:
        return []
    starts: list[int] = []  # the first seq of each visit
    ends: list[int | None] = []  # its last (None: still open)
    for event in reader.events(kinds=["cycle_started", "cycle_ended"]):
        if event.kind == "cycle_started":
            starts.append(event.seq)
            ends.append(None)
        elif ends and ends[-1] is None:
            ends[-1] = event.seq
    head = reader.head_seq()
    found: dict[int, CheckedEvent] = {c.event.seq: c for c in named}
    visits: set[tuple[int, int]] = set()
    for seq in found:
        at = bisect.bisect_right(starts, seq) - 1
        last = head if at < 0 else ends[at] or head
        if at >= 0 and seq <= last:
            visits.add((starts[at], last))
    for first, last in visits:
        inside = reader.checked_events(after_seq=first - 1, limit=last - first + 1)
        found.update((c.event.seq, c) for c in inside if c.event.vin in (None, vin))
    return [found[seq] for seq in sorted(found)]


def _gate_data(events: list[CheckedEvent]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The measured values and the findings of these events (rows that verify)."""
    from station import limits

    measurements: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for checked in events:
        e = checked.event
        if not checked.verified or e.kind not in ("measured", "finding"):
            continue
        where = {"seq": e.seq, "wall": e.wall, "step": e.step}
        who = {"source": e.data.get("source"), "operator": e.operator}
        if e.kind == "measured":
            for value in e.data.get("values", []):
                shown = limits.shown(value["value"], limits.Bounds.of(value))
                measurements.append({**where, **value, "shown": shown, **who})
        else:
            findings.extend({**where, **finding, **who} for finding in e.data.get("findings", []))
    return measurements, findings


def _gate_lines(measurements: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[str]:
    """The measurements and findings as lines after the table."""
    from station import limits

    lines = [f"measurements: {len(measurements)}"] if measurements else []
    for m in measurements:
        described = limits.describe(limits.Bounds.of(m))
        lines.append(
            f"  seq {m['seq']}  {m['name']} {m['shown']}  (limits {described}; "
            f"{m['source']}, {m['operator']})"
        )
    lines += [f"findings: {len(findings)}"] if findings else []
    for f in findings:
        note = f" ({f['note']})" if f.get("note") else ""
        lines.append(
            f"  seq {f['seq']}  {f['code']} ({f['severity']}) {f['text']}{note}  "
            f"({f['source']}, {f['operator']})"
        )
    return lines


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
