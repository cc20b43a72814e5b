"""`station passport VIN [--db URL] [--json]`: the vehicle's passport across every
station of the plant, from the plant database (`station.plant.passport`).

Human-readable: a header line (VIN, line, final, lead time), then one line per visit
(time in, station, operation, result, operators, verdict, chain), every field escaped.
`--json`: the document of docs/cli.md. Exit 0 found; 1 for a VIN the plant never saw,
naming the nearest known VINs (difflib); 2 for a bad --db or a database that cannot be
opened or read.
"""

from __future__ import annotations

import argparse
import json
import sys

from station.plant.store import add_db_argument

NEAREST = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("vin", metavar="VIN")
    add_db_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the passport as JSON")


def run(args: argparse.Namespace) -> int:
    import difflib

    from station.journal import printable
    from station.journal.untrusted import shown
    from station.plant.passport import passport
    from station.plant.store import StoreError, default_db, open_store

    vin = args.vin.strip().upper()
    try:
        store = open_store(args.db or default_db())
    except (StoreError, ValueError) as exc:
        print(printable(f"station passport: {exc}"), file=sys.stderr)
        return 2
    try:
        document = passport(store, vin)
        known = store.vins() if document is None else []
    except StoreError as exc:
        print(printable(f"station passport: {exc}"), file=sys.stderr)
        return 2
    finally:
        store.close()
    if document is None:
        nearest = difflib.get_close_matches(vin, known, n=NEAREST, cutoff=0.5)
        hint = f"; nearest known: {', '.join(nearest)}" if nearest else "; no VIN near it"
        print(printable(f"station passport: unknown VIN {shown(vin, 40)}{hint}"), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(document, ensure_ascii=False))
        return 0
    lead_h = document["lead_time_s"] / 3600
    print(
        printable(
            f"{document['vin']}: line {document['line']}, {document['final']}, "
            f"lead time {lead_h:.1f} h, {len(document['visits'])} visits"
        )
    )
    for visit in document["visits"]:
        operators = ",".join(visit["operators"]) or "-"
        print(
            printable(
                f"{visit['t_in']}  {visit['station']:<20} {visit['operation'] or '-':<22} "
                f"{visit['result'] or 'in station':<8} {operators:<20} "
                f"verdict {visit['verdict'] or '-':<5} chain {visit['chain']}"
            )
        )
    return 0
