"""The station's recent journal events, newest first."""

from __future__ import annotations

from textual.app import ComposeResult

from station.console.screens.console_screen import ConsoleScreen
from station.console.widgets.event_table import EventTable


class EventsScreen(ConsoleScreen):
    def compose_body(self) -> ComposeResult:
        yield EventTable().data_bind(ConsoleScreen.state)
