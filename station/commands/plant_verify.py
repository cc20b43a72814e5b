"""`station plant verify [--db URL] [--station S]`: re-check every stored chain of the
plant database end to end (`station.plant.verify`).

One line per station on stdout: `ok: station S (line L): N events, seq 1..M, chain
verified, acknowledged up to seq A (hash ...)`, or `broken: ...` with the number of
problems; each problem on its own line on stderr, prefixed with the station. Exit 0 when
every chain holds, 1 when one does not (or --station names no stored station), 2 for a
bad --db or a database that cannot be opened.
"""

from __future__ import annotations

import argparse
import sys

from station.plant.store import add_db_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument("--station", metavar="S", help="only this station")


def run(args: argparse.Namespace) -> int:
    from station.commands.journal_verify import counted
    from station.journal import printable
    from station.plant.store import StoreError, default_db, open_store
    from station.plant.verify import check_station

    try:
        store = open_store(args.db or default_db())
    except (StoreError, ValueError) as exc:
        print(printable(f"station plant verify: {exc}"), file=sys.stderr)
        return 2
    ok = True
    try:
        heads = [h for h in store.heads() if args.station in (None, h.station)]
        if not heads:
            what = "no station" if args.station is None else f"no station {args.station}"
            print(printable(f"station plant verify: {what} in {store.name}"), file=sys.stderr)
            return 0 if args.station is None else 1
        for head in heads:
            report = check_station(store, head)
            what = (
                f"station {head.station} (line {head.line}): {counted(report.count, 'event')}"
                f", seq 1..{report.last_seq}"
            )
            acked = f"acknowledged up to seq {head.head_seq} (hash {head.head_hash[:16]}...)"
            if report.ok:
                print(printable(f"ok: {what}, chain verified, {acked}"))
            else:
                ok = False
                problems = counted(len(report.problems), "problem")
                print(printable(f"broken: {what}, {problems}, {acked}"))
                for problem in report.problems:
                    print(printable(f"{head.station}: {problem}"), file=sys.stderr)
    except StoreError as exc:
        print(printable(f"station plant verify: {exc}"), file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0 if ok else 1
