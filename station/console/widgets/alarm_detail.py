"""The whole text of the alarm under the alarm table's cursor (the table cuts it)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from station.console.messages import ConsoleState
from station.status import AlarmStatus


class AlarmDetail(Static):
    DEFAULT_CSS = """
    AlarmDetail { height: auto; min-height: 3; border: round $secondary; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._alarms: list[AlarmStatus] = []
        self._key: str | None = None

    def show_state(self, state: ConsoleState) -> None:
        self._alarms = state.snapshot.status["alarms"] if state.snapshot is not None else []
        self._show()

    def select(self, key: str | None) -> None:
        self._key = key
        self._show()

    def _show(self) -> None:
        chosen = [a for a in self._alarms if a["key"] == self._key] or self._alarms[:1]
        if not chosen:
            self.update(Text("no alarms", style="dim"))
            return
        alarm = chosen[0]
        text = Text(f"P{alarm['priority']} {alarm['key']}", style="bold")
        text.append(f"  raised {alarm['raised_at'][:19].replace('T', ' ')} UTC")
        text.append(f"\n{alarm['text']}")
        self.update(text)
