"""What the four main screens share: the link bar on top, the notice line and the
footer below, and rendering the app's `ConsoleState` into every widget that shows
it, each time it changes. While disconnected the last known data stays on screen,
tinted, under the red DISCONNECTED bar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from station.console.messages import ConsoleState
from station.console.widgets.link_bar import LinkBar
from station.console.widgets.notice_line import NoticeLine

if TYPE_CHECKING:
    from station.console.app import ConsoleApp


@runtime_checkable
class ShowsState(Protocol):
    def show_state(self, state: ConsoleState) -> None: ...


class ConsoleScreen(Screen[None]):
    DEFAULT_CSS = """
    ConsoleScreen.-stale #body { tint: $error 20%; }
    """

    def compose(self) -> ComposeResult:
        yield LinkBar()
        with Vertical(id="body"):
            yield from self.compose_body()
        yield NoticeLine()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    def on_mount(self) -> None:
        self.watch(self.app, "state", self.show_state)

    def show_state(self, state: ConsoleState) -> None:
        self.set_class(not state.link.connected and state.snapshot is not None, "-stale")
        for widget in self.query("*"):
            if isinstance(widget, ShowsState):
                widget.show_state(state)
