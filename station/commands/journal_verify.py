"""`station journal verify [--state-dir DIR] [--anchor KEYFILE [--anchors FILE]]`: is the
journal whole and untouched?

Runs SQLite's PRAGMA integrity_check on the file, then walks the hash chain
(`station.journal`: every seq present from 1, each row's hash matching its fields, each
prev_hash the hash of the row before, every event of the journal's station, the
verified checkpoint still in the chain). Problems a `chain_sealed` event covers (see
`station journal seal`) are listed as sealed and do not fail. With `--anchor KEYFILE`,
also checks the anchors (`<state-dir>/anchors.jsonl`, or `--anchors FILE`): each signed
with that key, each anchored (seq, hash) still in the chain, the journal not ending
before the last one. Reads without locking: safe while the station runs.

Prints one summary line on stdout (and one for the anchors); each problem on its own
line on stderr, sealed ones prefixed `sealed: `; control characters escaped. Exit 0 when
the journal is whole, 1 when it is broken (or unreadable, or an anchor does not hold),
2 when there is no journal in the state directory (or it is no directory).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from station.state_dir import (
    StateDirError,
    add_state_dir_argument,
    anchors_path,
    journal_path,
    resolve_state_dir,
)

if TYPE_CHECKING:
    from station.journal import JournalReader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_state_dir_argument(parser)
    parser.add_argument(
        "--anchor",
        type=Path,
        metavar="KEYFILE",
        help="also check the anchors, signed with the key in this file",
    )
    parser.add_argument(
        "--anchors",
        type=Path,
        metavar="FILE",
        help="the anchors to check (default: anchors.jsonl in the state directory)",
    )


def counted(count: int, noun: str) -> str:
    """'1 problem', '2 problems'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def run(args: argparse.Namespace) -> int:
    from station.journal import JournalError, JournalNotFound, JournalReader, printable

    try:
        state_dir = resolve_state_dir(args.state_dir, create=False)
    except StateDirError as exc:
        print(printable(f"station journal verify: {exc}"), file=sys.stderr)
        return 2
    path = journal_path(state_dir)
    try:
        reader = JournalReader.open(path)
    except JournalNotFound as exc:
        print(printable(f"station journal verify: {exc}"), file=sys.stderr)
        return 2
    except JournalError as exc:
        print(printable(f"broken: {path}: cannot be read as a journal"), file=sys.stderr)
        print(printable(str(exc)), file=sys.stderr)
        return 1
    lines: list[str] = []
    with reader:
        report = reader.verify()
        what = f"journal {path} of station {reader.station}: {counted(report.count, 'event')}"
        if report.ok:
            span = f", seq 1..{report.last_seq}" if report.count else ""
            seals = f" ({counted(len(report.sealed), 'problem')} sealed)" if report.sealed else ""
            lines.append(f"ok: {what}{span}, integrity ok, hash chain intact{seals}")
        else:
            lines.append(f"broken: {what}, {counted(len(report.problems), 'problem')}")
        problems = [*(f"sealed: {p}" for p in report.sealed), *report.problems]
        anchors_ok = True
        if args.anchor is not None:
            anchors_ok = _check_anchors(args, reader, anchors_path(state_dir), lines, problems)
        plant_ok = _check_plant_ack(reader, state_dir, lines, problems)
    for line in lines:
        print(printable(line))
    for problem in problems:
        print(printable(problem), file=sys.stderr)
    return 0 if report.ok and anchors_ok and plant_ok else 1


def _check_plant_ack(
    reader: JournalReader, state_dir: Path, lines: list[str], problems: list[str]
) -> bool:
    """The plant's last ack (the uplink's state file) anchors the chain outside the
    station: the event at the acked seq must still have the acked hash."""
    from station.uplink.state import FILE_NAME, UplinkState

    if not (state_dir / FILE_NAME).exists():
        return True
    try:
        ack = UplinkState.load(state_dir).ack
    except ValueError as exc:
        problems.append(str(exc))
        return False
    if ack.seq == 0:
        lines.append("plant: nothing acknowledged yet")
        return True
    held = reader.hash_of(ack.seq)
    if held == ack.hash:
        lines.append(f"plant: acknowledged up to seq {ack.seq} (hash {ack.hash[:16]}...): matches")
        return True
    found = "no such event" if held is None else f"hash {held[:16]}..."
    lines.append(f"plant: acknowledged up to seq {ack.seq}: DOES NOT MATCH")
    problems.append(
        f"the plant stored seq {ack.seq} with hash {ack.hash}, the journal holds {found}: "
        "the journal was changed after the plant stored it"
    )
    return False


def _check_anchors(
    args: argparse.Namespace,
    reader: JournalReader,
    default: Path,
    lines: list[str],
    problems: list[str],
) -> bool:
    from station.journal import JournalError, check_anchors

    anchors = args.anchors or default
    try:
        report = check_anchors(reader, args.anchor, anchors)
    except JournalError as exc:
        lines.append(f"broken: anchors {anchors}: cannot be checked")
        problems.append(str(exc))
        return False
    if report.ok:
        held = f"{report.count} anchors hold, up to seq {report.last_seq}"
        lines.append(f"ok: anchors {anchors}: {held}")
    else:
        lines.append(f"broken: anchors {anchors}: {counted(len(report.problems), 'problem')}")
    problems.extend(report.problems)
    return report.ok
