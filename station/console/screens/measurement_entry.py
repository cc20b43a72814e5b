"""The inspector types a measured value: the quantity, its unit, its limits, decimals
and physical range shown; the value sent to the station (`EnterMeasurement`), which
refuses one that is not a number or is outside the physical range (shown here, asked
again). Opened with `e` (or a click on the prompt) while the station asks a measurement;
it follows the prompt to the next quantity, and closes once a value is taken."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from station.console.screens.entry_dialog import EntryDialog
from station.status import PromptStatus


class MeasurementScreen(EntryDialog):
    METHOD = "EnterMeasurement"
    KIND = "measurement"
    DEFAULT_CSS = """
    MeasurementScreen { align: center middle; }
    MeasurementScreen > Vertical {
        width: 76; max-width: 100%; height: auto; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="entry-what")
            yield Input(id="entry-value")
            yield Static(id="entry-why")
            yield Label("Enter to send, Escape to cancel")

    def show(self, prompt: PromptStatus | None) -> None:
        what = self.query_one("#entry-what", Static)
        field = self.query_one("#entry-value", Input)
        quantity = prompt["quantity"] if prompt is not None else None
        if quantity is None:
            what.update(Text("the station asks no measurement now", style="dim"))
            field.placeholder = ""
            return
        unit = quantity["unit"]
        text = Text()
        text.append(quantity["name"], style="bold")
        text.append(f" in {unit}" if unit else "")
        if quantity["description"]:
            text.append(f": {quantity['description']}")
        text.append("\nlimits ")
        text.append(quantity["limits"], style="bold")
        text.append(
            f"   {quantity['decimals']} decimal(s)   physical range "
            f"{quantity['physical_min']:g}..{quantity['physical_max']:g} {unit}".rstrip()
        )
        what.update(text)
        field.placeholder = f"{quantity['name']} in {unit}" if unit else quantity["name"]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.send(event.value.strip())
