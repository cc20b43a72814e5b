"""`station route explain --config LINE.yaml [--ev] [--attr K=V[@OPERATION] ...]`: the route
a vehicle takes.

Prints, in route order, every operation of the line with its step and
station (or its parallel stations, any of which takes a vehicle due there):
gates marked, the check-in and check-out named, and conditional operations
this vehicle does not take shown as skipped with the reason; then the
rework bay. The vehicle's attributes are those given (`--ev` is
`--attr ev=true`); the others are false. `--attr K=V@OPERATION` is an
attribute found on the way by the station of OPERATION: it changes only the
operations after that one (the finder's row says what it finds, the rows it
changes say so). Exit 0; a bad line file prints its errors as
`FILE:LINE: PATH: MESSAGE` on stderr and exits 2, and so does an attribute
the line does not declare, a value that is not a boolean, or an operation
that is not on the route.
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
        metavar="K=V[@OP]",
        help="a vehicle attribute at intake, true or false; with @OPERATION, found on the way "
        "by that operation's station (repeatable)",
    )


def _attributes(pairs: list[str], ev: bool) -> tuple[dict[str, bool], list[tuple[str, bool, str]]]:
    """`--attr K=V[@OP]` words -> ({K: bool} at intake, [(K, bool, OP)] found on the way);
    ValueError naming the bad argument."""
    values = {"ev": True} if ev else {}
    found = []
    for pair in pairs:
        name, sep, rest = pair.partition("=")
        word, at, operation = rest.partition("@")
        if not sep or not name or (at and not operation):
            raise ValueError(
                f"--attr {pair!r}: expected NAME=true or NAME=false, then @OPERATION if found"
            )
        if word.lower() not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(
                f"--attr {pair!r}: value must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}"
            )
        if at:
            found.append((name, word.lower() in TRUE_WORDS, operation))
        else:
            values[name] = word.lower() in TRUE_WORDS
    return values, found


def run(args: argparse.Namespace) -> int:
    from station.config.loader import ConfigError, load_line
    from station.route import Found, RouteSnapshot, attributes_at, check_attributes, is_due

    try:
        line = load_line(args.config)
    except ConfigError as exc:
        return exc.report()
    route = RouteSnapshot.from_line(line.model)
    try:
        given, finds = _attributes(args.attr, args.ev)
        attributes = check_attributes(route, given)
        check_attributes(route, [name for name, _, _ in finds])
        found = sorted(
            (Found(*find) for find in finds),
            key=lambda f: (route.index(f.operation), route.attributes.index(f.attribute)),
        )
    except ValueError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    true_names = ", ".join(sorted(attributes)) or "none"
    header = f"line {route.line}, route {route.label}; vehicle attributes: {true_names}"
    if found:
        header += "; found on the way: " + ", ".join(
            f"{f.attribute}={str(f.value).lower()} at {f.operation}" for f in found
        )
    print(header)
    rows = [("step", "operation", "station", "")]
    for index, op in enumerate(route.operations):
        notes = [KIND_NOTES[op.kind]] if op.kind in KIND_NOTES else []
        if op.gate:
            notes.append("GATE")
        holds = attributes_at(route, attributes, found, index)
        name = (op.when or "").removeprefix("not ")
        finder = [f for f in found if f.attribute == name and route.index(f.operation) < index]
        source = f" (found at {finder[-1].operation})" if finder else ""
        if not is_due(op, holds):
            state = "true" if name in holds else "false"
            notes.append(f"skipped: when {op.when}, and {name} is {state}{source}")
        elif op.when is not None:
            notes.append(f"when {op.when}{source}")
        notes += [
            f"finds {f.attribute}={str(f.value).lower()}"
            for f in found
            if f.operation == op.operation
        ]
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
