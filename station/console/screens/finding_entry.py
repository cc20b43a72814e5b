"""The inspector picks a finding from the station's catalogue (each code with its
severity and text), with an optional note, or says there is no (more) finding. Each is
sent to the station (`EnterFinding`: 'CODE note', or 'none'), which refuses a code not
in its catalogue (shown here). Opened with `e` (or a click on the prompt) while the
station asks a finding; it stays open for the next one, and closes after 'none'."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from station.console.screens.entry_dialog import EntryDialog
from station.console.widgets.vehicle_panel import SEVERITY_STYLES
from station.status import CatalogueCode, PromptStatus

NONE = "none"
"""What the station takes for 'no (more) finding'."""


def option(entry: CatalogueCode) -> Option:
    text = Text(f"{entry['code']:<10} ")
    text.append(f"{entry['severity']:<9}", style=SEVERITY_STYLES.get(entry["severity"], ""))
    text.append(f" {entry['text']}")
    return Option(text, id=entry["code"])


class FindingScreen(EntryDialog):
    METHOD = "EnterFinding"
    KIND = "finding"
    BINDINGS: ClassVar[list[BindingType]] = [
        *EntryDialog.BINDINGS,
        Binding("n", "no_more", "No (more) finding"),
    ]
    DEFAULT_CSS = """
    FindingScreen { align: center middle; }
    FindingScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 100%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    FindingScreen OptionList { height: auto; max-height: 12; }
    FindingScreen Horizontal { height: auto; }
    FindingScreen Button { margin-right: 1; }
    """

    def __init__(self, catalogue: list[CatalogueCode]) -> None:
        super().__init__()
        self.catalogue = catalogue

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="entry-what")
            yield OptionList(*map(option, self.catalogue), id="entry-codes")
            yield Input(placeholder="note (optional), Enter to send", id="entry-note")
            yield Static(id="entry-why")
            with Horizontal():
                yield Button(Content("No (more) finding [n]"), id="entry-none", compact=True)
                yield Button(Content("Cancel [Esc]"), id="entry-cancel", compact=True)
            yield Label("↑↓ a code, Enter: its note, Enter: send")

    def show(self, prompt: PromptStatus | None) -> None:
        what = self.query_one("#entry-what", Static)
        if prompt is None:
            what.update(Text("the station asks no finding now", style="dim"))
            return
        what.update(Text.assemble(("finding ", "bold"), f"{prompt['item'] + 1}: ", prompt["text"]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#entry-note", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        chosen = self.query_one("#entry-codes", OptionList).highlighted_option
        if chosen is None or chosen.id is None:
            self.query_one("#entry-why", Static).update(Text("pick a code first", "bold red"))
            return
        self.send(f"{chosen.id} {event.value.strip()}".strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "entry-none":
            self.action_no_more()
        else:
            self.dismiss(None)

    def action_no_more(self) -> None:
        self.send(NONE)

    def taken(self, result: str) -> None:
        if self.sent == NONE:
            self.dismiss(None)
            return
        self.query_one("#entry-note", Input).value = ""
        self.query_one("#entry-why", Static).update(Text(f"taken: {result}", style="green"))
        self.query_one("#entry-codes", OptionList).focus()
