"""The simulated inspection system's users: the configured user with its password,
nobody else (asyncua's user manager)."""

from __future__ import annotations

import hmac
from typing import Any

import structlog
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.internal_server import InternalServer
from asyncua.server.user_managers import UserManager

log = structlog.get_logger("simulators.inspection")


class OneUser(UserManager):
    """asyncua user manager: the configured user with its password, nobody else."""

    def __init__(self, user: str, password: str) -> None:
        self._user = user
        self._password = password.encode()

    def get_user(
        self,
        iserver: InternalServer,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if (
            username == self._user
            and password is not None
            and hmac.compare_digest(password.encode(), self._password)
        ):
            return User(role=UserRole.User, name=username)
        log.warning("sim_inspection_login_refused", user=username)
        return None
