"""Who calls, and what nobody may do: asyncua's hooks for users and permissions.

asyncua does not hand the session to a method. The permission ruleset, which asyncua
consults with the session's user before every request of a connection, in the same
task that then runs the request, records that user in a context variable; a method
reads it with `caller()`. A session with no credentials is the user `anonymous` with
the role `anonymous`, which no action allows: its calls reach the Station, which
refuses and journals them (docs/faults.md rows 29-30). Passwords are checked against the
users file by `station.interface.users`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from asyncua import ua
from asyncua.crypto.permission_rules import ADMIN_TYPES, SimpleRoleRuleset, User, UserRole
from asyncua.server.user_managers import UserManager
from asyncua.ua.object_ids import ObjectIds

from station.interface.users import ANONYMOUS, Authenticator

log = structlog.get_logger(__name__)


@dataclass
class SessionUser(User):
    """An authenticated session: asyncua's User with the station role."""

    station_role: str = ""


_CALLER: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_caller", default=None)
"""The user of the request being processed (set by `CallerRules`)."""


def caller() -> tuple[str, str]:
    """(user, role) of the session whose request is being processed."""
    user = _CALLER.get()
    if isinstance(user, SessionUser) and user.name:
        return user.name, user.station_role
    return ANONYMOUS, ANONYMOUS


_REFUSED_TYPES = frozenset(
    ua.NodeId(ua.Int32(t)) for t in (*ADMIN_TYPES, ObjectIds.WriteRequest_Encoding_DefaultBinary)
)


class CallerRules(SimpleRoleRuleset):
    """asyncua's check before each request of a session: records the caller for the
    methods; refuses writes and address-space changes to everybody (nothing is
    writable; state changes go through methods, which the Station authorizes)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        _CALLER.set(user)
        return action_type_id not in _REFUSED_TYPES


class UsersFile(UserManager):
    """asyncua's user manager over the users file; a refused login is reported to
    `on_refused(user, why)`."""

    def __init__(self, authenticator: Authenticator, on_refused: Callable[[str, str], None]):
        self.authenticator = authenticator
        self.on_refused = on_refused

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        # `certificate` is the client application's (the secure channel's), not a user
        # token: X509 user tokens are not offered, so no user name means anonymous.
        if username is None:
            return User(role=UserRole.Anonymous)
        problem = self.authenticator.reload()
        if problem is not None:
            log.error("users_file_invalid", errors=[str(i) for i in problem.issues])
        role = self.authenticator.check(username, password or "")
        if role is None:
            locked = self.authenticator.locked(username)
            self.on_refused(
                username, "locked after wrong passwords" if locked else "wrong user or password"
            )
            return None
        log.info("opcua_login", user=username, role=str(role), audit=True)
        return SessionUser(role=UserRole.User, name=username, station_role=str(role))
