"""A supervisor's decision on a held vehicle: retry the failed step or remove the
vehicle, with a reason; dismissed with (action, reason), or None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class DisposeScreen(ModalScreen[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "dismiss", "Cancel")]
    DEFAULT_CSS = """
    DisposeScreen { align: center middle; }
    DisposeScreen > Vertical {
        width: 70; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    DisposeScreen Horizontal { height: auto; }
    DisposeScreen Button { margin-right: 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Held vehicle: retry the failed step, or remove it from the station")
            yield Input(placeholder="reason (journaled)", id="dispose-reason")
            with Horizontal():
                yield Button("Retry", variant="primary", id="dispose-retry")
                yield Button("Remove", variant="error", id="dispose-remove")
                yield Button("Cancel", id="dispose-cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "dispose-cancel":
            self.dismiss(None)
            return
        action = "retry" if event.button.id == "dispose-retry" else "remove"
        self.dismiss((action, self.query_one("#dispose-reason", Input).value.strip()))
