"""What the console's tables share: a row cursor, columns given by the subclass,
the whole height of the screen body, and the `state` they render (`watch_state`)."""

from __future__ import annotations

from typing import ClassVar

from textual.reactive import reactive
from textual.widgets import DataTable

from station.console.messages import NO_STATE, ConsoleState


class StateTable(DataTable[str]):
    DEFAULT_CSS = """
    StateTable { height: 1fr; }
    """
    COLUMNS: ClassVar[tuple[str, ...]] = ()

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*self.COLUMNS)
