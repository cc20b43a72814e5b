"""What happens to the console, as messages (past tense), and the state it renders.

The client's callbacks become `SnapshotReceived` and `LinkChanged`; a worker's
outcome becomes `CommandCompleted` or `CommandRefused`; the login screen posts
`LoginSubmitted`. The app folds them into one `ConsoleState`, which every screen
watches and renders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.message import Message

from station.interface.client import Link, Snapshot


@dataclass(frozen=True)
class ConsoleState:
    """Everything the screens show."""

    link: Link
    snapshot: Snapshot | None = None
    """The last status received (kept, and shown as stale, while disconnected)."""
    notice: str = ""
    """The outcome of the last action, or why it was refused."""
    notice_is_error: bool = False

    def with_notice(self, notice: str, *, error: bool = False) -> ConsoleState:
        return replace(self, notice=notice, notice_is_error=error)


@dataclass
class SnapshotReceived(Message):
    """The station's status (or its recent events) changed."""

    snapshot: Snapshot


@dataclass
class LinkChanged(Message):
    """The console connected, lost the station, or tried again."""

    link: Link


@dataclass
class LoginSubmitted(Message):
    """Someone asked to log in (user None: read only)."""

    user: str | None
    password: str | None


@dataclass
class LoginFailed(Message):
    """The station refused the user name or password."""

    reason: str


@dataclass
class CommandCompleted(Message):
    """The station carried out a method call."""

    method: str
    result: str


@dataclass
class CommandRefused(Message):
    """The station refused a call, or there was no connection to send it on."""

    method: str
    reason: str
