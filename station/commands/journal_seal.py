"""`station journal seal --reason TEXT --user NAME [--state-dir DIR]`: go on after a break.

A journal whose chain does not verify is not continued: the runtime refuses to start
on it (`JournalBroken`). Once a supervisor has looked into the break (and kept a copy of
the state directory), this command appends one `chain_sealed` event, by NAME, that
records the old head (seq, hash), the seq where the chain breaks, every problem found
and the reason. `station journal verify` then lists those problems as sealed and passes
the chain after them; the station starts again. Problems that appear later, anywhere,
are not covered.

Needs the journal closed (no `station run` on this state directory: the lock refuses
it otherwise). Refuses a journal that verifies, and one whose file is damaged below the
chain (SQLite integrity check fails): sealing cannot repair a file.

Prints the sealing event's seq and hash on stdout. Exit 0 sealed; 1 refused (the reason
on stderr); 2 when there is no journal in the state directory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from station.state_dir import (
    StateDirError,
    add_state_dir_argument,
    journal_path,
    resolve_state_dir,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why the break is sealed (journaled)")
    parser.add_argument("--user", required=True, help="the supervisor who seals (journaled)")
    add_state_dir_argument(parser)


def run(args: argparse.Namespace) -> int:
    from station.journal import Journal, JournalError, JournalNotFound, printable

    try:
        path = journal_path(resolve_state_dir(args.state_dir, create=False))
    except StateDirError as exc:
        print(printable(f"station journal seal: {exc}"), file=sys.stderr)
        return 2
    try:
        event = asyncio.run(Journal.seal(path, reason=args.reason, user=args.user))
    except JournalNotFound as exc:
        print(printable(f"station journal seal: {exc}"), file=sys.stderr)
        return 2
    except (JournalError, ValueError) as exc:
        print(printable(f"station journal seal: refused: {exc}"), file=sys.stderr)
        return 1
    old = event.data["old_head"]
    print(
        printable(
            f"sealed: journal {path}: broken at seq {event.data['broken_seq']}, old head seq "
            f"{old['seq']}; new chain from seq {event.seq} ({event.kind}, hash {event.hash})"
        )
    )
    return 0
