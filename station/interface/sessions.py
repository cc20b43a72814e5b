"""The clients' sessions: which address each comes from, whether its secure channel
signs, and closing every one of them when the server stops.

asyncua 2.1 hands neither the user manager nor the certificate validator the session
they decide on. `SessionTracking` (asyncua's `InternalServer`) creates `SourcedSession`s
instead of plain ones; a session records, for the length of its activation (which asks
the user manager) and of its creation (which asks the certificate validator), where
its client is (`client()`): the client's IP address (a flood opens a connection per try:
only the address stays, so throttling goes by it) and whether its secure channel signs
(a client's certificate is checked only where it is used, OPC 10000-4 5.6.2). The
channel is found among the listener's connections by the session's peer name, which
asyncua gives the session (`InternalSession.name`); a test fails if that stops working
(`tests/system/test_interface_security.py`).

asyncua 2.1 keeps a session with subscriptions alive after its connection drops (so
a client may reactivate it, OPC 10000-4 6.7), and `Server.stop()` leaves those
sessions' tasks running. asyncua lists its sessions only in a private dict
(`InternalServer._external_sessions`); its public side is the pair of methods every
client session calls, `register_external_session` on creation and
`unregister_external_session` on close. `SessionTracking` overrides those two to keep
its own list (`tests/system/test_interface_server.py` checks that asyncua still calls them).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.security_policies import SecurityPolicyNone
from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import InternalSession
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager


@dataclass(frozen=True)
class Client:
    """Where a session's requests come from."""

    source: str
    """The client's IP address."""
    signed: bool
    """False on a SecurityPolicy None channel."""


UNKNOWN = Client("unknown", signed=True)
"""Outside a session's creation or activation (a certificate is then checked)."""

_CLIENT: contextvars.ContextVar[Client] = contextvars.ContextVar("opcua_client", default=UNKNOWN)


def client() -> Client:
    """The client of the session being created or activated."""
    return _CLIENT.get()


class SourcedSession(InternalSession):
    """asyncua's session, which says who its client is while it is created and activated."""

    iserver: SessionTracking

    async def create_session(
        self, params: ua.CreateSessionParameters, sockname: tuple[str, int] | None = None
    ) -> ua.CreateSessionResult:
        token = _CLIENT.set(self.iserver.client_of(self.name))
        try:
            return await super().create_session(params, sockname)
        finally:
            _CLIENT.reset(token)

    def activate_session(
        self, params: ua.ActivateSessionParameters, peer_certificate: bytes | None
    ) -> ua.ActivateSessionResult:
        token = _CLIENT.set(self.iserver.client_of(self.name))
        try:
            return super().activate_session(params, peer_certificate)
        finally:
            _CLIENT.reset(token)


class SessionTracking(InternalServer):
    """asyncua's internal server, which creates `SourcedSession`s and knows the client
    sessions still open."""

    def __init__(self, user_manager: UserManager) -> None:
        super().__init__(user_manager=user_manager)
        self.sessions: set[InternalSession] = set()
        """Client sessions created and not closed."""
        self.server: Server | None = None
        """The server listening for these sessions (set once it is built)."""

    def create_session(
        self, name: str, user: User | None = None, external: bool = False
    ) -> InternalSession:
        user = user if user is not None else User(role=UserRole.Anonymous)
        return SourcedSession(
            self, self.aspace, self.subscription_service, name, user=user, external=external
        )

    def client_of(self, peer: Any) -> Client:
        """The client connected from `peer` (asyncua's peer name: (address, port, ...))."""
        source = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        listener = self.server.bserver if self.server is not None else None
        for connection in listener.clients if listener is not None else ():
            processor = connection.processor
            if processor is not None and processor.name == peer:
                policy = processor._connection.security_policy  # no public way to the channel
                return Client(source, signed=policy.URI != SecurityPolicyNone.URI)
        return Client(source, signed=True)

    def register_external_session(self, session: InternalSession) -> None:
        super().register_external_session(session)
        self.sessions.add(session)

    def unregister_external_session(self, session: InternalSession) -> None:
        super().unregister_external_session(session)
        self.sessions.discard(session)

    async def close_sessions(self) -> None:
        """Close every client session left open, deleting its subscriptions."""
        for session in list(self.sessions):
            await session.close_session(delete_subs=True)
