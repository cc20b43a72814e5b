"""Every alarm on the station's list: most urgent first, with who acknowledged it."""

from __future__ import annotations

from station.console.messages import ConsoleState
from station.console.widgets.state_table import StateTable


class AlarmTable(StateTable):
    COLUMNS = ("P", "alarm", "raised", "state", "acknowledged by", "text")

    def watch_state(self, state: ConsoleState) -> None:
        alarms = state.snapshot.status["alarms"] if state.snapshot is not None else []
        row = self.cursor_row
        self.clear()
        for alarm in alarms:
            self.add_row(
                str(alarm["priority"]),
                alarm["key"],
                alarm["raised_at"][11:19],
                "active" if alarm["active"] else "cleared",
                alarm["acked_by"] or "-",
                alarm["text"],
                key=alarm["key"],
            )
        if alarms:
            self.move_cursor(row=min(row, len(alarms) - 1))

    def selected_key(self) -> str | None:
        """The key of the alarm under the cursor."""
        if self.row_count == 0:
            return None
        return str(self.get_row_at(self.cursor_row)[self.COLUMNS.index("alarm")])
