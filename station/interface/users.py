"""The people who may act on the station over its OPC UA interface: names, roles, and
salted password hashes, in a users file kept apart from the station file.

The file (`interface.users_file` in the station file, e.g. /etc/station/users.yaml,
readable by the station's service user only)::

    users:
      alice:
        role: operator          # operator, inspector, supervisor or maintenance
        password: scrypt$16384$8$1$<salt, base64>$<hash, base64>

`station user add NAME --role ROLE --file USERS.yaml` writes an entry (the password
read from a prompt or stdin, never from the command line; its hash made by
`station.interface.logins`, which also checks logins against the file).

Boundary: no OPC UA here; the server maps a session to (user, role) with the
`logins.Authenticator`, and the Station checks the role of every action
(`station.roles`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from hal.config import Section
from station.config.loader import ConfigError, ConfigIssue, load_document
from station.interface.logins import ANONYMOUS, hash_password
from station.roles import Role

USER_NAME_PATTERN = r"^[a-z][a-z0-9._-]{0,47}$"
UserName = Annotated[str, Field(pattern=USER_NAME_PATTERN)]

HASH_PATTERN = r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$"


class UserEntry(Section):
    """One user."""

    role: Role
    """What the user may do: operator, inspector, supervisor or maintenance."""
    password: str = Field(pattern=HASH_PATTERN)
    """The password's scrypt hash (`station user add` writes it), never the password."""


class UsersFile(Section):
    """The users of a station's OPC UA interface."""

    users: dict[UserName, UserEntry] = Field(default_factory=dict)
    """User name -> role and password hash."""
    min_password_length: int = Field(default=12, ge=8, le=128)
    """The shortest password `station user add` accepts for this file."""

    @field_validator("users")
    @classmethod
    def _no_anonymous(cls, users: dict[str, UserEntry]) -> dict[str, UserEntry]:
        if ANONYMOUS in users:
            raise ValueError(f"{ANONYMOUS!r} is reserved for sessions without credentials")
        return users


def load_users(path: Path | str) -> UsersFile:
    """Read and validate a users file (ConfigError with file, line and path)."""
    return load_document(path, UsersFile)


def load_served_users(path: Path) -> UsersFile:
    """`load_users` for a file the station serves logins from: refused (ConfigError) when
    other users of the machine may read it (its hashes can be attacked offline)."""
    users = load_users(path)  # what is wrong with its content first
    mode = path.stat().st_mode & 0o777
    if mode & 0o007:
        why = f"readable by every user of this machine (mode {mode:o}): chmod 600 {path}"
        raise ConfigError([ConfigIssue(str(path), 1, "<file>", why)])
    return users


@contextlib.contextmanager
def _editing(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of the users file (a sibling lock
    file: the users file itself is replaced by a rename), released with the process."""
    lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def add_user(path: Path, name: str, role: str, password: str) -> bool:
    """Add `name` to the users file at `path`, or replace its role and password; the
    file is created (mode 0600) when missing, its comments kept otherwise. True when
    the user was new. The file is checked before and after, and written atomically."""
    if not re.fullmatch(USER_NAME_PATTERN, name) or name == ANONYMOUS:
        raise ValueError(
            f"user name {name!r}: lower case letters, digits, '.', '_' or '-', starting "
            f"with a letter, at most 48 characters, not {ANONYMOUS!r}"
        )
    try:
        checked_role = Role(role)
    except ValueError:
        raise ValueError(f"role {role!r}: must be one of {', '.join(Role)}") from None
    if path.exists():
        load_users(path)  # refused before anything is written, the lock file included
    with _editing(path):
        return _add_user(path, name, checked_role, password)


def _add_user(path: Path, name: str, role: Role, password: str) -> bool:
    yaml = YAML(typ="rt")
    yaml.width = 4096  # a hash on one line
    minimum = UsersFile().min_password_length
    if path.exists():
        minimum = load_users(path).min_password_length
        document = yaml.load(path.read_text(encoding="utf-8"))
    else:
        document = CommentedMap()
    if len(password) < minimum:
        raise ValueError(
            f"the password has {len(password)} characters: at least {minimum} "
            f"(min_password_length of {path})"
        )
    entry = UserEntry(role=role, password=hash_password(password))
    users = document.setdefault("users", CommentedMap())
    if users is None:
        users = document["users"] = CommentedMap()
    new = name not in users
    users[name] = CommentedMap(role=entry.role.value, password=entry.password)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.touch(mode=0o600)
    try:
        os.chmod(temporary, 0o600)  # private whatever the old file's mode was
        with temporary.open("w", encoding="utf-8") as stream:
            yaml.dump(document, stream)
            stream.flush()
            os.fsync(stream.fileno())
        load_users(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return new
