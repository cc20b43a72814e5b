"""The top line: connected to which station as whom, or plainly DISCONNECTED with
the reason on a second line."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState


class LinkBar(Static):
    DEFAULT_CSS = """
    LinkBar { height: auto; padding: 0 1; background: $success-darken-3; color: $text; }
    LinkBar.-disconnected { background: $error; color: $text; text-style: bold; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        link = state.link
        station = state.snapshot.status["station"] if state.snapshot is not None else "station"
        if link.connected:
            text = f"● {station}   connected to {link.endpoint}   as {link.user} ({link.role})"
        elif link.attempt == 0 and link.reason == "connecting":
            text = f"… {station}   connecting to {link.endpoint}"
        else:
            failed = f" ({link.attempt} failed)" if link.attempt else ""
            text = (
                f"✖ DISCONNECTED since {link.since} from {link.endpoint}: reconnecting{failed}"
                f"\n  {link.reason}"
            )
        self.set_class(not link.connected, "-disconnected")
        self.update(Text(text, no_wrap=True, overflow="ellipsis"))
