"""`station route explain --config LINE.yaml [--ev] [--attr K=V ...]`: the route a vehicle takes.

Prints, in route order, every operation of the line with its step and
station (or its parallel stations, any of which takes a vehicle due there):
gates marked, the check-in and check-out named, and conditional operations
this vehicle does not take shown as skipped with the reason; then the
rework bay. The vehicle's attributes are those given (`--ev` is
`--attr ev=true`); the others are false. Exit 0; a bad line file prints its
errors as `FILE:LINE: PATH: MESSAGE` on stderr and exits 2, and so does an
attribute the line does not declare or a value that is not a boolean.
"""

from __future__ import annotations

import argparse
import sys

TRUE_WORDS = ("true", "yes", "1", "on")
FALSE_WORDS = ("false", "no", "0", "off")
KIND_NOTES = {"check_in": "check-in", "check_out": "check-out"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="LINE.yaml", help="line file")
    parser.add_argument("--ev", action="store_true", help="the vehicle is electric (ev=true)")
    parser.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="K=V",
        help="a vehicle attribute, true or false (repeatable)",
    )


def _attributes(pairs: list[str], ev: bool) -> dict[str, bool]:
    """`--attr K=V` words -> {K: bool}; ValueError naming the bad argument."""
    values = {"ev": True} if ev else {}
    for pair in pairs:
        name, sep, word = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--attr {pair!r}: expected NAME=true or NAME=false")
        if word.lower() not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(
                f"--attr {pair!r}: value must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}"
            )
        values[name] = word.lower() in TRUE_WORDS
    return values


def run(args: argparse.Namespace) -> int:
    from station.config.loader import ConfigError, load_line
    from station.route import RouteSnapshot, check_attributes, is_due

    try:
        line = load_line(args.config)
    except ConfigError as exc:
        return exc.report()
    route = RouteSnapshot.from_line(line.model)
    try:
        attributes = check_attributes(route, _attributes(args.attr, args.ev))
    except ValueError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    true_names = ", ".join(sorted(attributes)) or "none"
    print(f"line {route.line}, route {route.label}; vehicle attributes: {true_names}")
    rows = [("step", "operation", "station", "")]
    for op in route.operations:
        notes = [KIND_NOTES[op.kind]] if op.kind in KIND_NOTES else []
        if op.gate:
            notes.append("GATE")
        if not is_due(op, attributes):
            name = (op.when or "").removeprefix("not ")
            state = "true" if name in attributes else "false"
            notes.append(f"skipped: when {op.when}, and {name} is {state}")
        elif op.when is not None:
            notes.append(f"when {op.when}")
        if len(op.served_by) > 1:
            notes.append(f"parallel: any of {len(op.served_by)} stations")
        rows.append((str(op.step), op.operation, ", ".join(op.served_by), "; ".join(notes)))
    rework = route.rework
    rows.append(
        (
            "-",
            rework.operation,
            rework.station,
            f"rework bay: a failed GATE sends the vehicle here, then back to it "
            f"({rework.max_loops} loop(s) per gate, then held)",
        )
    )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for step, operation, station, note in rows:
        text = f"{step:>{widths[0]}}  {operation:<{widths[1]}}  {station:<{widths[2]}}  {note}"
        print(text.rstrip())
    return 0
