"""The station's counts: cycles, passed, failed, rework, held."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from station.console.messages import ConsoleState

COUNTS = ("cycles", "passed", "failed", "rework", "held")


class CountsPanel(Static):
    DEFAULT_CSS = """
    CountsPanel { width: 22; height: 5; border: round $secondary; padding: 0 1; }
    """

    def show_state(self, state: ConsoleState) -> None:
        if state.snapshot is None:
            self.update("")
            return
        counts = state.snapshot.status["counts"]
        text = Text()
        for index, name in enumerate(COUNTS[:3]):
            text.append(("\n" if index else "") + f"{name:<8}{counts[name]:>6}")
        text.append(f"\nrework{counts['rework']:>3}  held{counts['held']:>3}")
        self.update(text)
