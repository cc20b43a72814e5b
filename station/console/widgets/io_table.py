"""Live I/O: every PLC input and output, and every device link."""

from __future__ import annotations

from station.console.messages import ConsoleState
from station.console.widgets.state_table import StateTable


def _value(value: int | None) -> str:
    return "? (link down)" if value is None else str(value)


class IoTable(StateTable):
    COLUMNS = ("kind", "name", "value")

    def watch_state(self, state: ConsoleState) -> None:
        self.clear()
        if state.snapshot is None:
            return
        status = state.snapshot.status
        for name, value in status["inputs"].items():
            self.add_row("input", name, _value(value))
        for name, value in status["outputs"].items():
            self.add_row("output", name, _value(value))
        for name, up in status["links"].items():
            self.add_row("link", name, "up" if up else "DOWN")
