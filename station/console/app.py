"""The console app: one `ConsoleState`, four screens that render it, actions that
call the station.

- The link: a worker (`console:link`) runs a `StationLink` (the OPC UA client,
  `station.interface.client.StationClient`) whose callbacks post
  `SnapshotReceived` and `LinkChanged`; the client reconnects by itself, so the
  app only shows what it is told. Logging in replaces the worker with one for
  the new user; a refused login falls back to read only and reopens the login.
- Actions: a screen posts `CommandRequested`; the app runs that server method in
  its own worker (`console:call:<method>`), which posts `CommandCompleted` or
  `CommandRefused`, shown on the notice line. Who may do what is the station's
  decision (see `widgets.action_bar`).
- Screens are modes: 1 station, 2 alarms, 3 events, 4 I/O; l logs in. Each watches
  `ConsoleApp.state` and passes it down to its widgets (`screens.console_screen`);
  none calls the app.

A test may give the app another `StationLink` that calls the same callbacks with
recorded snapshots (the snapshot tests do): the rendering path is the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar, Protocol

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive

from station.console.messages import (
    NO_STATE,
    ActionDeclined,
    CommandCompleted,
    CommandRefused,
    CommandRequested,
    ConsoleState,
    LinkChanged,
    LoginFailed,
    LoginSubmitted,
    SnapshotReceived,
)
from station.console.screens.alarms import AlarmsScreen
from station.console.screens.events import EventsScreen
from station.console.screens.io import IoScreen
from station.console.screens.login import LoginScreen
from station.console.screens.station import StationScreen
from station.interface.client import (
    CallRefused,
    Link,
    LoginRefused,
    NotConnected,
    Snapshot,
    StationClient,
)


class StationLink(Protocol):
    """What the app needs of its connection to the station."""

    async def run(self) -> None: ...

    async def call(self, method: str, *args: str | int) -> str: ...


class LinkFactory(Protocol):
    def __call__(
        self,
        endpoint: str,
        user: str | None,
        password: str | None,
        *,
        on_snapshot: Callable[[Snapshot], None],
        on_link: Callable[[Link], None],
    ) -> StationLink: ...


class ConsoleApp(App[None]):
    TITLE = "station console"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, Any]] = {
        "station": StationScreen,
        "alarms": AlarmsScreen,
        "events": EventsScreen,
        "io": IoScreen,
    }
    DEFAULT_MODE = "station"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('station')", "Station"),
        Binding("2", "switch_mode('alarms')", "Alarms"),
        Binding("3", "switch_mode('events')", "Events"),
        Binding("4", "switch_mode('io')", "I/O"),
        Binding("l", "login", "Log in"),
        Binding("q", "quit", "Quit"),
    ]

    state: reactive[ConsoleState] = reactive(NO_STATE, always_update=True)

    def __init__(
        self,
        endpoint: str,
        user: str | None = None,
        password: str | None = None,
        *,
        link_factory: LinkFactory = StationClient,
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.user = user
        self.password = password
        self.link_factory = link_factory
        self._link: StationLink | None = None
        self.set_reactive(
            ConsoleApp.state, ConsoleState(Link(endpoint, False, reason="connecting"))
        )

    def on_mount(self) -> None:
        self._connect(self.user, self.password)

    # --- the link -----------------------------------------------------------------------

    @work(exclusive=True, group="link", exit_on_error=True)
    async def _connect(self, user: str | None, password: str | None) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.set_name("console:link")
        link = self.link_factory(
            self.endpoint,
            user,
            password,
            on_snapshot=self._snapshot_received,
            on_link=self._link_changed,
        )
        self._link = link
        try:
            await link.run()
        except LoginRefused as exc:
            self.post_message(LoginFailed(str(exc)))

    def _snapshot_received(self, snapshot: Snapshot) -> None:
        self.post_message(SnapshotReceived(snapshot))

    def _link_changed(self, link: Link) -> None:
        self.post_message(LinkChanged(link))

    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        self.state = replace(self.state, snapshot=message.snapshot)

    def on_link_changed(self, message: LinkChanged) -> None:
        self.state = replace(self.state, link=message.link)

    def on_login_submitted(self, message: LoginSubmitted) -> None:
        self.user, self.password = message.user, message.password
        who = message.user or "read only"
        self.state = self.state.with_notice(f"logging in: {who}")
        self._connect(message.user, message.password)

    def on_login_failed(self, message: LoginFailed) -> None:
        self.state = self.state.with_notice(message.reason, error=True)
        failed_user, self.user, self.password = self.user, None, None
        self._connect(None, None)
        self.push_screen(LoginScreen(failed_user, message.reason))

    # --- actions ------------------------------------------------------------------------

    def on_command_requested(self, message: CommandRequested) -> None:
        self._call(message.method, *message.args)

    def on_action_declined(self, message: ActionDeclined) -> None:
        self.state = self.state.with_notice(message.reason, error=True)

    @work(group="command", exit_on_error=True)
    async def _call(self, method: str, *args: str | int) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"console:call:{method}")
        link = self._link
        try:
            if link is None:
                raise NotConnected("not connected to the station")
            result = await link.call(method, *args)
        except (CallRefused, NotConnected) as exc:
            self.post_message(CommandRefused(method, str(exc)))
        else:
            self.post_message(CommandCompleted(method, result))

    def on_command_completed(self, message: CommandCompleted) -> None:
        self.state = self.state.with_outcome(message.method, message.result, refused=False)

    def on_command_refused(self, message: CommandRefused) -> None:
        self.state = self.state.with_outcome(message.method, message.reason, refused=True)

    def action_login(self) -> None:
        self.push_screen(LoginScreen())
