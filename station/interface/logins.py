"""Checking a login: the password hashes and the `Authenticator`, without the users
file's reader (`station.interface.users`), so that the OPC UA server's process checks
logins without loading pydantic and the config models (issue 18, item 5: 10 MiB of
that process's memory).

Hashes are `hashlib.scrypt` (n=16384, r=8, p=1, 32 bytes) over a random 16-byte salt,
stored as `scrypt$N$r$p$salt$hash`; a check takes about 50 ms of CPU, compared in
constant time. The parameters are stored in each hash, so they can be raised later
without breaking existing entries.

`Authenticator` is what a server asks at each login: it re-reads the users file when it
changed (a user added or removed takes effect without a restart; a file that no longer
validates is refused with its located errors and the users read before stay in force);
an unknown name is refused at once (so timing tells whether a name exists). The station
reads the file (`Authenticator.open`) and hands what it read to its OPC UA server's
process (`logins`, `served`): that process reads the file itself only once it changed.
It runs in the OPC UA server's process, never in the station's event loop; guessing is
slowed per source address by the server (`throttle.Backoff`), not by locking a name,
which would let anyone keep an operator out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.roles import Role

if TYPE_CHECKING:
    from station.config.loader import ConfigError

ANONYMOUS = "anonymous"
"""The user name of a session without credentials (it may browse and read only)."""

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
HASH_BYTES = 32
SALT_BYTES = 16


def hash_password(password: str) -> str:
    """The stored form of `password` with a new random salt: scrypt$N$r$p$salt$hash."""
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    parts = ["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)]
    return "$".join(parts)


def verify_password(password: str, stored: str) -> bool:
    """True when `password` gives `stored` (ValueError if `stored` is not a hash of ours)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            raise ValueError(f"unknown scheme {scheme!r}")
        expected = base64.b64decode(digest, validate=True)
        candidate = _scrypt(
            password, base64.b64decode(salt, validate=True), int(n), int(r), int(p), len(expected)
        )
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not a password hash of the form scrypt$N$r$p$salt$hash: {exc}") from exc
    return hmac.compare_digest(candidate, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    memory = 128 * r * (n + p + 2)
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=2 * memory
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Authenticator:
    """Checks a user name and password against the users file; see the module docstring."""

    def __init__(
        self, path: Path | None, users: dict[str, tuple[Role, str]], mtime_ns: int = -1
    ) -> None:
        self.path = path
        self.users = users
        """User name -> role and password hash, as the file said when last read."""
        self._mtime_ns = mtime_ns

    @classmethod
    def open(cls, path: Path | None) -> Authenticator:
        """Read the file now (ConfigError when it is not valid); None: nobody may log in."""
        if path is None:
            return cls(None, {})
        try:  # before reading: a change in between is read again at the next login
            mtime = path.stat().st_mtime_ns
        except OSError:
            mtime = -1  # `_read` says why, as a ConfigError
        return cls(path, _read(path), mtime)

    def logins(self) -> dict[str, Any]:
        """What the station hands its OPC UA server's process (JSON), for `served`."""
        return {
            "file": None if self.path is None else str(self.path),
            "mtime_ns": self._mtime_ns,
            "users": {name: [str(role), stored] for name, (role, stored) in self.users.items()},
        }

    @classmethod
    def served(cls, logins: dict[str, Any]) -> Authenticator:
        """The authenticator `logins` (from `logins`) describes, without reading the file."""
        users = {name: (Role(role), stored) for name, (role, stored) in logins["users"].items()}
        path = None if logins["file"] is None else Path(logins["file"])
        return cls(path, users, int(logins["mtime_ns"]))

    def reload(self) -> ConfigError | None:
        """Re-read the file if it changed; the error when it no longer validates (the
        users read before are kept)."""
        if self.path is None:
            return None
        try:
            mtime: int | None = self.path.stat().st_mtime_ns
        except OSError as exc:
            mtime, unreadable = None, exc.strerror
        if mtime == self._mtime_ns:
            return None
        from station.config.loader import ConfigError, ConfigIssue  # changed: read it

        if mtime is None:
            issue = ConfigIssue(str(self.path), 1, "<file>", f"cannot read: {unreadable}")
            return ConfigError([issue])
        try:
            self.users = _read(self.path)
        except ConfigError as exc:
            return exc
        self._mtime_ns = mtime
        return None

    def check(self, name: str, password: str) -> Role | None:
        """The user's role when the password is right; None otherwise (unknown name or
        wrong password)."""
        entry = self.users.get(name)
        if entry is None or not verify_password(password, entry[1]):
            return None
        return entry[0]


def _read(path: Path) -> dict[str, tuple[Role, str]]:
    """The users of the file at `path`, checked (`users.load_served_users`: imported here,
    where a file is read, so that checking a login needs none of the config models)."""
    from station.interface.users import load_served_users

    file = load_served_users(path)
    return {name: (entry.role, entry.password) for name, entry in file.users.items()}
