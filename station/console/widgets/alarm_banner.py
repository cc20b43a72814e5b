"""The alarms in one line on the station screen: how many, and the most urgent."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState


class AlarmBanner(Static):
    DEFAULT_CSS = """
    AlarmBanner { height: 1; padding: 0 1; }
    AlarmBanner.-alarm { background: $error-darken-3; text-style: bold; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        alarms = state.snapshot.status["alarms"] if state.snapshot is not None else []
        unacked = [a for a in alarms if not a["acked_by"]]
        self.set_class(bool(unacked), "-alarm")
        if not alarms:
            self.update(Text("no alarms", style="dim"))
            return
        top = alarms[0]
        text = Text(f"{len(alarms)} alarm(s), {len(unacked)} to acknowledge [a]: ")
        text.append(f"P{top['priority']} {top['key']}: {top['text']}")
        self.update(text)
