"""Every alarm, with acknowledgement of the one under the cursor, and its whole text."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from station.console.messages import ActionDeclined, CommandRequested
from station.console.screens.console_screen import ConsoleScreen
from station.console.widgets.alarm_detail import AlarmDetail
from station.console.widgets.alarm_table import AlarmTable


class AlarmsScreen(ConsoleScreen):
    BINDINGS = [Binding("a", "acknowledge", "Acknowledge")]

    def compose_body(self) -> ComposeResult:
        yield AlarmTable().data_bind(ConsoleScreen.state)
        yield AlarmDetail().data_bind(ConsoleScreen.state)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.query_one(AlarmDetail).selected = self.query_one(AlarmTable).selected_key()

    def action_acknowledge(self) -> None:
        key = self.query_one(AlarmTable).selected_key()
        if key is None:
            self.post_message(ActionDeclined("no alarm to acknowledge"))
        else:
            self.post_message(CommandRequested("AcknowledgeAlarm", (key,)))
