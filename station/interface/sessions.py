"""The clients' sessions, so that stopping the server closes every one of them.

asyncua 2.1 keeps a session with subscriptions alive after its connection drops (so
a client may reactivate it, OPC 10000-4 6.7), and `Server.stop()` leaves those
sessions' tasks running. asyncua lists its sessions only in a private dict
(`InternalServer._external_sessions`); its public side is the pair of methods every
client session calls, `register_external_session` on creation and
`unregister_external_session` on close. `SessionTracking` overrides those two to keep
its own list (`tests/system/test_interface_server.py` checks that asyncua still calls them).
"""

from __future__ import annotations

from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import InternalSession
from asyncua.server.user_managers import UserManager


class SessionTracking(InternalServer):
    """asyncua's internal server, which knows the client sessions still open."""

    def __init__(self, user_manager: UserManager) -> None:
        super().__init__(user_manager=user_manager)
        self.sessions: set[InternalSession] = set()
        """Client sessions created and not closed."""

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
