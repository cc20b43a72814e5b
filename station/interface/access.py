"""Who calls, and what nobody may do: asyncua's hooks for users and permissions.

asyncua does not hand the session to a method. The permission ruleset, which asyncua
consults with the session's user before every request of a connection, in the same
task that then runs the request, records that user in a context variable; a method
reads it with `caller()`: the user's name, role and address. A session with no
credentials is the user `anonymous` with the role `anonymous`, which no action allows:
its calls reach the Station, which refuses and journals them (docs/faults.md rows
29-30), the first of each window per address in full and the others as a count
(`station.interface.audit`).

A login is checked against the users file by `station.interface.logins` in the server's
own thread (`station.interface.loop`): the ~50 ms of scrypt never stall the station.
Wrong passwords are throttled per source address (`throttle.Backoff`): after a few, a
source waits, doubling, and is refused meanwhile without a hash; a user name is never
locked, so the right password from another address always gets in (docs/faults.md
row 31).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, NamedTuple

import structlog
from asyncua import ua
from asyncua.crypto.permission_rules import ADMIN_TYPES, SimpleRoleRuleset, User, UserRole
from asyncua.server.user_managers import UserManager
from asyncua.ua.object_ids import ObjectIds

from station.interface.audit import RefusalAudit
from station.interface.logins import ANONYMOUS, Authenticator
from station.interface.sessions import client
from station.interface.throttle import Backoff
from station.journal.untrusted import shown

log = structlog.get_logger(__name__)


@dataclass
class SessionUser(User):
    """A session: asyncua's User with the station role and the client's address."""

    station_role: str = ANONYMOUS
    source: str = "unknown"


class Caller(NamedTuple):
    """Who makes the request being processed."""

    name: str
    role: str
    source: str


_CALLER: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_caller", default=None)
"""The user of the request being processed (set by `CallerRules`)."""


def caller() -> Caller:
    """The user of the session whose request is being processed."""
    user = _CALLER.get()
    if not isinstance(user, SessionUser):
        return Caller(ANONYMOUS, ANONYMOUS, "unknown")
    return Caller(user.name or ANONYMOUS, user.station_role, user.source)


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
    """asyncua's user manager over the users file, throttled per source address;
    refused logins go to `audit`."""

    def __init__(self, authenticator: Authenticator, audit: RefusalAudit, backoff: Backoff):
        self.authenticator = authenticator
        self.audit = audit
        self.backoff = backoff

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        # `certificate` is the client application's (the secure channel's), not a user
        # token: X509 user tokens are not offered, so no user name means anonymous.
        source = client().source
        if username is None:
            return SessionUser(role=UserRole.Anonymous, source=source)
        wait_s = self.backoff.wait_s(source)
        if wait_s > 0:
            why = f"too many wrong passwords from {source}: refused for {wait_s:.1f} s more"
            self.audit.login_refused(source, username, why)
            return None
        problem = self.authenticator.reload()
        if problem is not None:
            log.error("users_file_invalid", errors=[str(i) for i in problem.issues])
        role = self.authenticator.check(username, password or "")
        if role is None:
            self.backoff.failed(source)
            self.audit.login_refused(source, username, "wrong user or password")
            return None
        self.backoff.succeeded(source)
        log.info("opcua_login", user=shown(username), role=str(role), audit=True)
        return SessionUser(role=UserRole.User, name=username, station_role=str(role), source=source)
