"""The current step of the cycle, with its progress."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Label, ProgressBar

from station.console.messages import NO_STATE, ConsoleState


class StepPanel(Horizontal):
    DEFAULT_CSS = """
    StepPanel { height: 3; border: round $secondary; padding: 0 1; }
    StepPanel Label { width: 1fr; }
    StepPanel ProgressBar { width: 40; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def compose(self) -> ComposeResult:
        yield Label(id="step-label")
        yield ProgressBar(total=100, show_eta=False, id="step-progress")

    def watch_state(self, state: ConsoleState) -> None:
        label = self.query_one("#step-label", Label)
        bar = self.query_one("#step-progress", ProgressBar)
        if state.snapshot is None:
            label.update("")
            bar.update(progress=0)
            return
        status = state.snapshot.status
        label.update(f"step {status['step_index'] + 1}/{status['step_count']}: {status['step']}")
        bar.update(progress=round(status["step_progress"] * 100))
