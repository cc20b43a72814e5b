"""What the four main screens share: the link bar on top, the notice line and the
footer below, and the app's `ConsoleState` passed down. A screen watches
`ConsoleApp.state` and keeps it in its own `state` reactive; each widget that shows
it is bound to that reactive (`data_bind`) and renders it in its `watch_state`. While
disconnected the last known data stays on screen, tinted, under the red DISCONNECTED
bar."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from station.console.messages import NO_STATE, ConsoleState
from station.console.widgets.link_bar import LinkBar
from station.console.widgets.notice_line import NoticeLine


class ConsoleScreen(Screen[None]):
    DEFAULT_CSS = """
    ConsoleScreen.-stale #body { tint: $error 20%; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)
    """The app's state, for the widgets bound to it."""

    def compose(self) -> ComposeResult:
        yield LinkBar().data_bind(ConsoleScreen.state)
        with Vertical(id="body"):
            yield from self.compose_body()
        yield NoticeLine().data_bind(ConsoleScreen.state)
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.watch(self.app, "state", self._app_state_changed)

    def _app_state_changed(self, state: ConsoleState) -> None:
        self.state = state

    def watch_state(self, state: ConsoleState) -> None:
        self.set_class(not state.link.connected and state.snapshot is not None, "-stale")
