"""The console app: one `ConsoleState`, four screens that render it, actions that
call the station.

- The link: a worker (`console:link`) runs a `StationLink` (the OPC UA client,
  `station.interface.client.StationClient`) whose callbacks post
  `SnapshotReceived` and `LinkChanged`; the client reconnects by itself, so the
  app only shows what it is told. Logging in replaces the worker with one for
  the new user; a refused login falls back to read only and reopens the login.
- Actions: each runs one server method in its own worker (`console:call:<method>`)
  and posts `CommandCompleted` or `CommandRefused`, shown on the notice line.
  Who may do what is the station's decision (see `widgets.action_bar`).
- Screens are modes: 1 station, 2 alarms, 3 events, 4 I/O; l logs in.

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
    CommandCompleted,
    CommandRefused,
    ConsoleState,
    LinkChanged,
    LoginFailed,
    LoginSubmitted,
    SnapshotReceived,
)
from station.console.screens.alarms import AlarmsScreen
from station.console.screens.dispose import DisposeScreen
from station.console.screens.events import EventsScreen
from station.console.screens.io import IoScreen
from station.console.screens.login import LoginScreen
from station.console.screens.station import StationScreen
from station.console.screens.text_entry import TextEntryScreen
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

    state: reactive[ConsoleState] = reactive(ConsoleState(Link("", False)), always_update=True)

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

    def tell(self, notice: str, *, error: bool = False) -> None:
        """Show `notice` on the notice line."""
        self.state = self.state.with_notice(notice, error=error)

    def call_station(self, method: str, *args: str | int) -> None:
        """Call a method of the station in a worker; the outcome goes to the notice line."""
        self._call(method, *args)

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
        self.tell(f"{message.method}: {message.result}")

    def on_command_refused(self, message: CommandRefused) -> None:
        self.tell(f"refused: {message.reason}", error=True)

    def action_station(self, method: str, *args: str | int) -> None:
        self.call_station(method, *args)

    def action_acknowledge_first(self) -> None:
        snapshot = self.state.snapshot
        alarms = snapshot.status["alarms"] if snapshot is not None else []
        waiting = [a for a in alarms if not a["acked_by"]]
        if not waiting:
            self.tell("no alarm to acknowledge", error=True)
            return
        self.call_station("AcknowledgeAlarm", waiting[0]["key"])

    def action_manual_vin(self) -> None:
        def entered(vin: str | None) -> None:
            if vin is not None:
                self.call_station("ManualVin", vin)

        self.push_screen(TextEntryScreen("Type the VIN (17 characters)", "VIN"), entered)

    def action_override(self) -> None:
        def entered(reason: str | None) -> None:
            if reason is not None:
                self.call_station("Override", "photo_session", reason)

        question = "Accept the incomplete photo session: why? (journaled)"
        self.push_screen(TextEntryScreen(question, "reason"), entered)

    def action_dispose(self) -> None:
        def decided(decision: tuple[str, str] | None) -> None:
            if decision is not None:
                self.call_station("Dispose", *decision)

        self.push_screen(DisposeScreen(), decided)

    def action_login(self) -> None:
        self.push_screen(LoginScreen())
