"""The stack light: the PLC's stack_red/amber/green outputs when the station has
them, else what they would show (red: abort or urgent alarm; amber: held,
suspended or a person is asked; green: running)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from station.console.messages import NO_STATE, ConsoleState
from station.status import Status

LAMPS = (("red", "red"), ("amber", "dark_orange"), ("green", "green"))


def lamps(status: Status) -> dict[str, bool | None]:
    """Lamp -> lit (None: unknown, its output unreadable)."""
    outputs = status["outputs"]
    if all(f"stack_{lamp}" in outputs for lamp, _ in LAMPS):
        return {
            lamp: None if outputs[f"stack_{lamp}"] is None else bool(outputs[f"stack_{lamp}"])
            for lamp, _ in LAMPS
        }
    state = status["state"]
    urgent = any(a["active"] and a["priority"] <= 2 for a in status["alarms"])
    return {
        "red": urgent or state in ("Aborted", "Aborting"),
        "amber": state in ("Held", "Holding", "Suspended", "Suspending")
        or status["prompt"] is not None,
        "green": state == "Execute",
    }


class StackLight(Static):
    DEFAULT_CSS = """
    StackLight { width: 9; height: 5; border: round $secondary; content-align: center middle; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def watch_state(self, state: ConsoleState) -> None:
        lit = lamps(state.snapshot.status) if state.snapshot is not None else {}
        text = Text(justify="center")
        for index, (lamp, colour) in enumerate(LAMPS):
            on = lit.get(lamp)
            symbol = "?" if on is None else "●" if on else "○"
            text.append(("\n" if index else "") + symbol, style=f"bold {colour}" if on else "dim")
        self.update(text)
