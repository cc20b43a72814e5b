"""The question the station asks a person, and the key that answers it."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState

ANSWER_KEYS = {
    "checklist": "d Done",
    "verdict": "p Pass · f Fail",
    "manual_vin": "v type the VIN",
    "confirm_step": "g Go",
    "disposition": "y Dispose",
}
"""Prompt kind -> the keys the station screen binds to answer it."""


class PromptPanel(Static):
    DEFAULT_CSS = """
    PromptPanel { height: 3; border: round $secondary; padding: 0 1; }
    PromptPanel.-asking { border: round $warning; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        prompt = state.snapshot.status["prompt"] if state.snapshot is not None else None
        self.set_class(prompt is not None, "-asking")
        if prompt is None:
            self.update(Text("nothing asked", style="dim"))
            return
        kind = prompt["kind"]
        text = Text(f"{kind.replace('_', ' ')}: ", style="bold")
        if kind == "checklist":
            text.append(f"item {prompt['item'] + 1}: ")
        text.append(prompt["text"])
        text.append(f"   [{ANSWER_KEYS.get(kind, kind)}]", style="bold dark_orange")
        self.update(text)
