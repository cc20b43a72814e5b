"""The vehicle in the station: VIN, model, and why it is held."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState


class VehiclePanel(Static):
    DEFAULT_CSS = """
    VehiclePanel { height: 3; border: round $secondary; padding: 0 1; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        if state.snapshot is None:
            self.update("")
            return
        status = state.snapshot.status
        if status["vin"] is None:
            self.update(Text("no vehicle in the station", style="dim"))
            return
        text = Text("VIN ")
        text.append(status["vin"], style="bold")
        if status["model"]:
            text.append(f"   {status['model']}")
        if status["held"]:
            text.append(f"   HELD: {status['held']}", style="bold dark_orange")
        self.update(text)
