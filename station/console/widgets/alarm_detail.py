"""The whole text of the alarm under the alarm table's cursor (the table cuts it)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState


class AlarmDetail(Static):
    DEFAULT_CSS = """
    AlarmDetail { height: auto; min-height: 3; border: round $secondary; padding: 0 1; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)
    selected: reactive[str | None] = reactive(None, init=False)
    """The key of the alarm under the table's cursor."""

    def watch_state(self) -> None:
        self._show()

    def watch_selected(self) -> None:
        self._show()

    def _show(self) -> None:
        snapshot = self.state.snapshot
        alarms = snapshot.status["alarms"] if snapshot is not None else []
        chosen = [a for a in alarms if a["key"] == self.selected] or alarms[:1]
        if not chosen:
            self.update(Text("no alarms", style="dim"))
            return
        alarm = chosen[0]
        text = Text(f"P{alarm['priority']} {alarm['key']}", style="bold")
        text.append(f"  raised {alarm['raised_at'][:19].replace('T', ' ')} UTC")
        text.append(f"\n{alarm['text']}")
        self.update(text)
