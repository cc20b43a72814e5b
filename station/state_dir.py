"""Where a station keeps its state on disk: the journal (and whatever else must survive).

Resolution, first that applies: the `--state-dir DIR` option; else `$STATE_DIRECTORY`,
which systemd sets from the unit's `StateDirectory=` (it holds several paths separated
by colons when the unit names several; the first is the station's); else `./state`.
The runtime creates the directory, mode 0700 (the journal is the station's record and
its anchors are signed: only the station's account reads them); a directory that exists
is left as it is (under systemd, set `StateDirectoryMode=0700`). Tools that only read
(`station journal show/verify`) resolve it the same way without creating it.

The journal file is `<state-dir>/journal.sqlite3` (`station.journal`, created 0600 with
its WAL), its anchors `<state-dir>/anchors.jsonl`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

JOURNAL_FILE = "journal.sqlite3"
ANCHORS_FILE = "anchors.jsonl"
STATE_DIR_MODE = 0o700
DEFAULT_STATE_DIR = Path("state")
_USE_ANOTHER = "give --state-dir a directory this user can write (or create)"


class StateDirError(Exception):
    """The state directory cannot be used; the message names it and where it came from."""


def add_state_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="the station's state directory, holding its journal "
        "(default: $STATE_DIRECTORY as systemd sets it, else ./state)",
    )


def resolve_state_dir(option: Path | None, *, create: bool = True) -> Path:
    """The state directory to use; created (with parents) when `create` is true, and then
    writable. StateDirError (saying which path, from where, and what to do) otherwise."""
    environment = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if option is not None:
        path, source = option, "--state-dir"
    elif environment:
        path, source = Path(environment), "$STATE_DIRECTORY"
    else:
        path, source = DEFAULT_STATE_DIR, "the default"
    where = f"state directory {path} (from {source})"
    if path.exists() and not path.is_dir():
        raise StateDirError(f"{where} is not a directory: {_USE_ANOTHER}")
    if create:
        try:
            path.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateDirError(
                f"{where} cannot be created ({exc.strerror}): {_USE_ANOTHER}"
            ) from exc
        if not os.access(path, os.W_OK | os.X_OK):
            raise StateDirError(f"{where} is not writable by this user: {_USE_ANOTHER}")
    return path


def journal_path(state_dir: Path) -> Path:
    return state_dir / JOURNAL_FILE


def anchors_path(state_dir: Path) -> Path:
    return state_dir / ANCHORS_FILE
