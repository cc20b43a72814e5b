"""Live I/O: inputs, outputs and device links."""

from __future__ import annotations

from textual.app import ComposeResult

from station.console.screens.console_screen import ConsoleScreen
from station.console.widgets.io_table import IoTable


class IoScreen(ConsoleScreen):
    def compose_body(self) -> ComposeResult:
        yield IoTable().data_bind(ConsoleScreen.state)
