"""What the entry dialogs share (a measured value, a finding): each answers the
station's open prompt through a method of the station and stays open until the station
has taken the answer. The station checks it (`Prompt.check`, the same check as for a
SCADA client's call): its refusal is shown in the dialog, which stays open to type
again. The dialog watches the app's `ConsoleState` like the main screens, and tells its
own answer's outcome by its number (`CallOutcome`)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Static

from station.console.messages import NO_STATE, CommandRequested, ConsoleState
from station.status import PromptStatus


class EntryDialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Cancel")]
    METHOD: ClassVar[str]
    """The station's method that takes the answer."""
    KIND: ClassVar[str]
    """The prompt kind it answers."""

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def __init__(self) -> None:
        super().__init__()
        self._waiting_after: int | None = None
        """The outcome number when the answer was sent (None: no answer pending)."""
        self.sent = ""
        """The last answer sent."""

    def on_mount(self) -> None:
        self.watch(self.app, "state", self._app_state_changed)

    def _app_state_changed(self, state: ConsoleState) -> None:
        self.state = state

    @property
    def prompt(self) -> PromptStatus | None:
        """The open prompt when it is of this dialog's kind."""
        snapshot = self.state.snapshot
        prompt = snapshot.status["prompt"] if snapshot is not None else None
        return prompt if prompt is not None and prompt["kind"] == self.KIND else None

    def send(self, answer: str) -> None:
        """Ask the station to take `answer`."""
        outcome = self.state.outcome
        self._waiting_after = outcome.number if outcome is not None else 0
        self.sent = answer
        self.query_one("#entry-why", Static).update(Text("sent, waiting for the station", "dim"))
        self.post_message(CommandRequested(self.METHOD, (answer,)))

    def watch_state(self, state: ConsoleState) -> None:
        outcome, after = state.outcome, self._waiting_after
        ours = outcome is not None and outcome.method == self.METHOD
        if after is not None and outcome is not None and ours and outcome.number > after:
            self._waiting_after = None
            if outcome.refused:
                why = Text(f"REFUSED: {outcome.text}", style="bold red")
                self.query_one("#entry-why", Static).update(why)
            else:
                self.taken(outcome.text)
        self.show(self.prompt)

    def show(self, prompt: PromptStatus | None) -> None:
        """Render what the open prompt asks (None: the station asks no such thing now)."""
        raise NotImplementedError

    def taken(self, result: str) -> None:
        """The station took the answer (`result`: what it says)."""
        self.dismiss(None)
