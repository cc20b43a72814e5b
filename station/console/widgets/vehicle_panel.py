"""The vehicle in the station: VIN, model, why it is held, and what its gates found in
this visit: each measured value as the station judged it (out of its limits in red
with the limit it misses, e.g. 'FAIL: 64.0 % < 70.0 %': colour and words), and each
finding with its severity."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState
from station.status import FindingStatus, MeasurementStatus

SEVERITY_STYLES = {"critical": "bold red", "major": "bold dark_orange", "minor": "yellow"}
"""How a finding's severity is shown (the finding dialog's list too)."""
SEPARATOR = "  ·  "


def measurements_line(values: list[MeasurementStatus]) -> Text:
    text = Text("measured: ", style="bold")
    for index, value in enumerate(values):
        if index:
            text.append(SEPARATOR, style="dim")
        text.append(f"{value['name']} ")
        if value["verdict"] == "fail":
            text.append(value["shown"], style="bold white on red")
        else:
            text.append(f"{value['shown']} ok", style="green")
    return text


def findings_line(findings: list[FindingStatus]) -> Text:
    text = Text("findings: ", style="bold")
    for index, finding in enumerate(findings):
        if index:
            text.append(SEPARATOR, style="dim")
        text.append(f"{finding['code']} ")
        style = SEVERITY_STYLES.get(finding["severity"], "")
        text.append(finding["severity"].upper(), style=style)
        text.append(f" {finding['text']}")
        if finding["note"]:
            text.append(f" ({finding['note']})", style="italic")
    return text


class VehiclePanel(Static):
    DEFAULT_CSS = """
    VehiclePanel { height: auto; min-height: 3; max-height: 9; border: round $secondary;
                   padding: 0 1; }
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
        if status["visit_measurements"]:
            text.append("\n").append_text(measurements_line(status["visit_measurements"]))
        if status["visit_findings"]:
            text.append("\n").append_text(findings_line(status["visit_findings"]))
        self.update(text)
