"""What the console's tables share: a row cursor, columns given by the subclass,
and the whole height of the screen body."""

from __future__ import annotations

from typing import ClassVar

from textual.widgets import DataTable


class StateTable(DataTable[str]):
    DEFAULT_CSS = """
    StateTable { height: 1fr; }
    """
    COLUMNS: ClassVar[tuple[str, ...]] = ()

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*self.COLUMNS)
