"""The question the station asks a person, and the key that answers it. A click on a
measurement or finding prompt opens its entry dialog (as `e` does)."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState

ANSWER_KEYS = {
    "checklist": "d Done",
    "verdict": "p Pass · f Fail",
    "manual_vin": "v type the VIN",
    "confirm_step": "g Go",
    "disposition": "y Dispose",
    "measurement": "e type the value",
    "finding": "e pick a finding",
    "attribute": "e answer yes or no",
}
"""Prompt kind -> the keys the station screen binds to answer it."""

ENTRY_KINDS = ("measurement", "finding", "attribute")
"""Prompt kinds answered in an entry dialog (opened by a click too)."""


class PromptPanel(Static):
    DEFAULT_CSS = """
    PromptPanel { height: auto; min-height: 3; max-height: 6; border: round $secondary;
                  padding: 0 1; }
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

    async def on_click(self, event: events.Click) -> None:
        snapshot = self.state.snapshot
        prompt = snapshot.status["prompt"] if snapshot is not None else None
        if prompt is not None and prompt["kind"] in ENTRY_KINDS:
            await self.run_action("screen.enter")
