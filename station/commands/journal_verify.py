"""`station journal verify [--state-dir DIR]`: is the journal whole and untouched?

Runs SQLite's PRAGMA integrity_check on the file, then walks the hash chain
(`station.journal`: every seq present from 1, each row's hash matching its fields, each
prev_hash the hash of the row before, every event of the journal's station). Reads
without locking: safe while the station runs.

Prints one summary line on stdout; each problem on its own line on stderr. Exit 0 when
the journal is whole, 1 when it is broken (or unreadable), 2 when there is no journal in
the state directory.
"""

from __future__ import annotations

import argparse
import sys

from station.state_dir import add_state_dir_argument, journal_path, resolve_state_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_state_dir_argument(parser)


def run(args: argparse.Namespace) -> int:
    from station.journal import JournalError, JournalNotFound, JournalReader

    path = journal_path(resolve_state_dir(args.state_dir, create=False))
    try:
        reader = JournalReader.open(path)
    except JournalNotFound as exc:
        print(f"station journal verify: {exc}", file=sys.stderr)
        return 2
    except JournalError as exc:
        print(f"broken: {path}: cannot be read as a journal", file=sys.stderr)
        print(exc, file=sys.stderr)
        return 1
    with reader:
        report = reader.verify()
    what = f"journal {path} of station {reader.station}: {report.count} events"
    if report.ok:
        span = f", seq 1..{report.last_seq}" if report.count else ""
        print(f"ok: {what}{span}, integrity ok, hash chain intact")
        return 0
    print(f"broken: {what}, {len(report.problems)} problems")
    for problem in report.problems:
        print(problem, file=sys.stderr)
    return 1
