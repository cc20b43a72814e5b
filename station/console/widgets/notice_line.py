"""The outcome of the last action: what the station did, or why it refused."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState


class NoticeLine(Static):
    DEFAULT_CSS = """
    NoticeLine { height: 1; padding: 0 1; }
    NoticeLine.-error { color: $error; text-style: bold; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        self.set_class(state.notice_is_error, "-error")
        self.update(Text(state.notice, no_wrap=True, overflow="ellipsis"))
