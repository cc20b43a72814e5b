"""The station's counts: cycles, passed, failed, rework, held."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState


class CountsPanel(Static):
    DEFAULT_CSS = """
    CountsPanel { width: 22; height: 5; border: round $secondary; padding: 0 1; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        if state.snapshot is None:
            self.update("")
            return
        counts = state.snapshot.status["counts"]
        text = Text()
        text.append(f"{'cycles':<8}{counts['cycles']:>6}")
        text.append(f"\n{'passed':<8}{counts['passed']:>6}")
        text.append(f"\n{'failed':<8}{counts['failed']:>6}")
        text.append(f"\nrework{counts['rework']:>3}  held{counts['held']:>3}")
        self.update(text)
