"""`station user add NAME --role ROLE --file USERS.yaml`: add a user of the station's
OPC UA interface, or change an existing user's role and password.

The password is never an argument (it would sit in the shell history and the
process list): it is asked twice on the terminal, or read as one line from stdin
when stdin is not a terminal (`printf '%s\\n' "$PW" | station user add ...`). Only
its salted scrypt hash is written (`station.interface.users`). The file is created
with mode 0600 when missing; its comments are kept otherwise.

Exit 0; 2 with the reason on stderr (a bad name, role or password, or a users file
that does not validate, with its file:line errors).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from station.config.loader import ConfigError
from station.interface.users import add_user
from station.roles import Role


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="user name, e.g. alice")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--file", required=True, type=Path, metavar="USERS.yaml")


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    try:
        new = add_user(args.file, args.name, args.role, _password())
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"station user add: {exc}", file=sys.stderr)
        return 2
    print(f"{'added' if new else 'updated'} {args.name} ({args.role}) in {args.file}")
    return 0
