"""`station journal anchor-key FILE`: make the key that signs the journal's anchors.

The station signs its journal's head (seq, hash) with this key every
`journal.anchor_every_s` and at a clean stop (`journal.anchor_key` in the station file),
and `station journal verify --anchor FILE` checks the journal against those anchors: a
cut tail or a re-hashed chain shows, which the chain alone cannot. Keep a copy of the key
off the station (whoever holds it can sign anchors): see docs/journal.md.

Writes a new random key, mode 0600, and refuses to overwrite an existing file. Exit 0
made; 2 refused (the reason on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="where to write the key (must not exist)")


def run(args: argparse.Namespace) -> int:
    from station.journal import create_key, printable

    try:
        create_key(args.file)
    except FileExistsError:
        print(
            printable(
                f"station journal anchor-key: {args.file} exists: not overwritten "
                "(a new key would not check the anchors signed with the old one)"
            ),
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(
            printable(f"station journal anchor-key: {args.file}: {exc.strerror}"), file=sys.stderr
        )
        return 2
    print(f"anchor key written to {args.file} (mode 0600)")
    return 0
