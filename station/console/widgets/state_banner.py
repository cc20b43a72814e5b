"""The PackML state in large, with the unit mode and blocked/starved."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState

STATE_CLASSES = {
    "Execute": "-running",
    "Starting": "-running",
    "Unholding": "-running",
    "Unsuspending": "-running",
    "Held": "-held",
    "Holding": "-held",
    "Suspended": "-held",
    "Suspending": "-held",
    "Aborted": "-fault",
    "Aborting": "-fault",
    "Stopped": "-stopped",
    "Stopping": "-stopped",
    "Clearing": "-stopped",
}
"""PackML state -> the banner's colour class (others: idle blue)."""


class StateBanner(Static):
    DEFAULT_CSS = """
    StateBanner {
        width: 1fr; height: 5; content-align: center middle; text-style: bold;
        background: $primary-darken-2; color: $text; border: round $primary;
    }
    StateBanner.-running { background: $success-darken-2; border: round $success; }
    StateBanner.-held { background: $warning-darken-3; border: round $warning; }
    StateBanner.-fault { background: $error-darken-2; border: round $error; }
    StateBanner.-stopped { background: $surface; border: round $secondary; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        for cls in set(STATE_CLASSES.values()):
            self.remove_class(cls)
        if state.snapshot is None:
            self.update("no status yet")
            return
        status = state.snapshot.status
        self.add_class(STATE_CLASSES.get(status["state"], "-idle"))
        flags = [status["mode"]]
        if status["blocked"]:
            flags.append("BLOCKED")
        if status["starved"]:
            flags.append("starved: waiting for a vehicle")
        text = Text(status["state"], style="bold")  # as PackML spells it
        text.append("\n" + " · ".join(flags), style="not bold")
        if not state.link.connected:
            text.append(f"\nlast known, before {state.link.since}", style="not bold italic")
        self.update(text)
