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


def listed(label: str, items: list[Text]) -> Text:
    """One line of the panel: a bold label, then the items between dim dots."""
    text = Text.assemble((f"{label}: ", "bold"))  # styled spans: a Text(style=) is all bold
    for index, item in enumerate(items):
        if index:
            text.append(SEPARATOR, style="dim")
        text.append_text(item)
    return text


def measured(value: MeasurementStatus) -> Text:
    if value["verdict"] == "fail":
        return Text.assemble(f"{value['name']} ", (value["shown"], "bold white on red"))
    return Text.assemble(f"{value['name']} ", (f"{value['shown']} ok", "green"))


def found(finding: FindingStatus) -> Text:
    severity = (finding["severity"].upper(), SEVERITY_STYLES.get(finding["severity"], ""))
    text = Text.assemble(f"{finding['code']} ", severity, f" {finding['text']}")
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
            values = [measured(value) for value in status["visit_measurements"]]
            text.append("\n").append_text(listed("measured", values))
        if status["visit_findings"]:
            findings = [found(finding) for finding in status["visit_findings"]]
            text.append("\n").append_text(listed("findings", findings))
        self.update(text)
