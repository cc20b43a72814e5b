"""`station plant report [--db URL] [--json] [--since T] [--until T] [--line-config
LINE.yaml ...] [--stranded-after S] [--horizon-days D]`: the plant figures from the plant
database (`station.plant.report`), computed in a thread of their own.

Text: a plant line, then per line its counts against the target, lead time, gates, the
held and stranded vehicles, and a row per station (cycles, results, state, time per
PackML state); every string from the database escaped and bounded. `--json`: docs/cli.md's
document. The window defaults to today (UTC) up to now. Exit 0; 2 with one line on
stderr for bad input (a time, a line file, --db) or a database that cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.plant.store import add_db_argument

if TYPE_CHECKING:
    from station.plant.lines import LineFacts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument("--json", action="store_true", help="print docs/cli.md's JSON document")
    parser.add_argument(
        "--since",
        metavar="T",
        help="start of the window: ISO 8601 (UTC unless an offset), now, or N[smhd] ago "
        "(default: today 00:00 UTC)",
    )
    parser.add_argument("--until", metavar="T", help="end of the window (default: now)")
    parser.add_argument(
        "--line-config",
        type=Path,
        action="append",
        default=[],
        metavar="LINE.yaml",
        help="a line file (repeatable): its target_per_day, gates, exit operation and "
        "station order",
    )
    parser.add_argument(
        "--stranded-after",
        type=float,
        default=None,
        metavar="S",
        help="a vehicle on the line with no event for longer than S seconds is stranded "
        "(default 3600)",
    )
    parser.add_argument(
        "--horizon-days",
        type=float,
        default=None,
        metavar="D",
        help="history read before --since for vehicles and stations (default 30)",
    )


def _refuse(message: str) -> int:
    from station.journal import printable

    print(printable(f"station plant report: {message}"), file=sys.stderr)
    return 2


def _facts(paths: list[Path]) -> dict[str, LineFacts]:
    """Each line file's facts; ValueError with one line for a file that is not one."""
    from station.config.loader import ConfigError, load_line
    from station.plant.lines import line_facts

    facts = {}
    for path in paths:
        try:
            model = load_line(path).model
        except ConfigError as exc:
            first = str(exc.issues[0]) if exc.issues else f"{path}: invalid"
            raise ValueError(f"--line-config: {first}") from None
        facts[model.line] = line_facts(model)
    return facts


def run(args: argparse.Namespace) -> int:
    from station.plant import report as figures
    from station.plant.store import StoreError, default_db, open_store

    now = time.time()
    since, until = figures.default_window(now)
    try:
        if args.since is not None:
            since = figures.parse_time(args.since, now)
        if args.until is not None:
            until = figures.parse_time(args.until, now)
        lines = _facts(args.line_config)
    except ValueError as exc:
        return _refuse(str(exc))
    if until <= since:
        return _refuse("--until must be after --since")
    limits = (("--stranded-after", args.stranded_after), ("--horizon-days", args.horizon_days))
    for name, value in limits:
        if value is not None and not 0 <= value < 1e7:
            return _refuse(f"{name} must be a number of 0 or more (got {value})")
    options: dict[str, Any] = {"lines": lines}
    if args.stranded_after is not None:
        options["stranded_after_s"] = args.stranded_after
    if args.horizon_days is not None:
        options["horizon_s"] = args.horizon_days * 86400

    def compute() -> dict[str, Any]:
        store = open_store(args.db or default_db())
        try:
            return figures.report(store, since, until, **options)
        finally:
            store.close()

    try:
        document = asyncio.run(asyncio.to_thread(compute))
    except (StoreError, ValueError) as exc:
        return _refuse(str(exc))
    if args.json:
        print(json.dumps(document, ensure_ascii=False))
    else:
        for text in render(document):
            print(text)
    return 0


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def render(document: dict[str, Any]) -> list[str]:
    """The report for a line engineer, one string a line, every field escaped."""
    from station.journal import printable
    from station.journal.untrusted import shown

    plant = document["plant"]
    out = [
        f"plant, {document['since']} .. {document['until']}: entered {plant['entered']}, "
        f"released {plant['released']}, held {plant['held']}, WIP {plant['wip']}, "
        f"stranded {plant['stranded']}; {plant['throughput_per_day']:.1f}/day against "
        f"{plant['target_per_day']}/day"
    ]
    for line in document["lines"]:
        lead = line["lead_time_s"]
        out += [
            "",
            f"line {shown(line['line'], 64)}: entered {line['entered']}, released "
            f"{line['released']}, held {line['held']}, WIP {line['wip']}",
            f"  throughput {line['throughput_per_hour']:.2f}/h, {line['throughput_per_day']:.1f}"
            f"/day against {line['target_per_day']}/day; lead time p50 {_hours(lead['p50'])},"
            f" p90 {_hours(lead['p90'])}",
        ]
        for gate in line["gates"]:
            fpy = gate["first_pass_yield"]
            out.append(
                f"  gate {shown(gate['operation'], 40):<24} first-pass yield "
                f"{'-' if fpy is None else f'{fpy:.1%}'} of {gate['vehicles']}, "
                f"{gate['failed_cycles']} failed, {gate['rework_loops']} rework loops, "
                f"{gate['held_after_fail']} held"
            )
        for held in line["held_vehicles"]:
            out.append(
                f"  held {shown(held['vin'], 20)} at {shown(held['station'], 40)} for "
                f"{_hours(held['age_s'])}: {shown(held['reason'], 160)}"
            )
        for lost in line["stranded"]:
            out.append(
                f"  stranded {shown(lost['vin'], 20)}: no event for {_hours(lost['idle_s'])}, "
                f"last at {shown(lost['last_station'], 40)}"
            )
        for station in line["stations"]:
            states = ", ".join(
                f"{shown(k, 20)} {_hours(v)}" for k, v in station["state_time_s"].items() if v
            )
            results = ", ".join(f"{shown(k, 16)} {v}" for k, v in station["results"].items())
            out.append(
                f"  {shown(station['station'], 32):<20} {shown(station['state'] or '-', 16):<10}"
                f" cycles {station['cycles']:>4} ({results or 'none'}); "
                f"in it {shown(station['in_station'] or '-', 20)}; {states or 'no state time'}"
            )
    return [printable(text) for text in out]
