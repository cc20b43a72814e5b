"""What happens to the console, as messages (past tense), and the state it renders.

Messages go up: the client's callbacks become `SnapshotReceived` and `LinkChanged`;
a worker's outcome becomes `CommandCompleted` or `CommandRefused`; a screen posts
`CommandRequested` (a key or button asked for a method of the station),
`ActionDeclined` (there was nothing to act on) or `LoginSubmitted`. The app folds
them into one `ConsoleState`. The state goes down: each screen watches the app's
and holds it in its own reactive, which its widgets are bound to (`data_bind`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.message import Message

from station.interface.client import Link, Snapshot


@dataclass(frozen=True)
class CallOutcome:
    """The station's answer to a call of the console (the entry dialogs wait for theirs)."""

    number: int
    """1 for the first outcome, then one more each (tells a new outcome from an old one)."""
    method: str
    refused: bool
    text: str
    """The result, or why it was refused."""


@dataclass(frozen=True)
class ConsoleState:
    """Everything the screens show."""

    link: Link
    snapshot: Snapshot | None = None
    """The last status received (kept, and shown as stale, while disconnected)."""
    notice: str = ""
    """The outcome of the last action, or why it was refused."""
    notice_is_error: bool = False
    outcome: CallOutcome | None = None
    """The station's answer to the last call."""

    def with_notice(self, notice: str, *, error: bool = False) -> ConsoleState:
        return replace(self, notice=notice, notice_is_error=error)

    def with_outcome(self, method: str, text: str, *, refused: bool) -> ConsoleState:
        """The answer to a call, also on the notice line."""
        number = self.outcome.number + 1 if self.outcome is not None else 1
        notice = f"refused: {text}" if refused else f"{method}: {text}"
        return replace(
            self.with_notice(notice, error=refused),
            outcome=CallOutcome(number, method, refused, text),
        )


NO_STATE = ConsoleState(Link("", False))
"""The state of a reactive before it is given one (before the app starts, before a
widget is bound)."""


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
class CommandRequested(Message):
    """A key or button asked for a method of the station, with these arguments."""

    method: str
    args: tuple[str | int, ...] = ()


@dataclass
class ActionDeclined(Message):
    """An action had nothing to act on (no alarm to acknowledge): why."""

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
