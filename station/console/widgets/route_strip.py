"""The vehicle's route as a strip: each operation in order, gates marked ◆,
done ✔, this station's operation highlighted. Wrapped between operations,
never inside one, at whatever width the terminal gives."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from station.console.messages import NO_STATE, ConsoleState
from station.status import RouteStop

ARROW = " → "


class RouteStrip(Widget):
    DEFAULT_CSS = """
    RouteStrip { height: auto; min-height: 3; border: round $secondary; padding: 0 1; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def __init__(self) -> None:
        super().__init__()
        self._route: list[RouteStop] = []
        self._vehicle = False

    def watch_state(self, state: ConsoleState) -> None:
        status = state.snapshot.status if state.snapshot is not None else None
        self._route = status["route"] if status is not None else []
        self._vehicle = status is not None and status["vin"] is not None
        self.refresh(layout=True)

    def _labels(self) -> list[tuple[str, str]]:
        labels = []
        for op in self._route:
            label = ("✔" if op["done"] else "") + ("◆" if op["gate"] else "")
            label += f"{op['step']} {op['operation']}"
            if op["here"]:
                style = "bold reverse"
            elif op["done"]:
                style = "green"
            else:
                style = "dim" if self._vehicle else ""
            labels.append((label, style))
        return labels

    def render(self) -> Text:
        width = max(self.content_size.width, 20)
        text = Text()
        column = 0
        for index, (label, style) in enumerate(self._labels()):
            if index:
                if column + len(ARROW) + len(label) > width:
                    text.append(ARROW.rstrip() + "\n", style="dim")
                    column = 0
                else:
                    text.append(ARROW, style="dim")
                    column += len(ARROW)
            text.append(label, style=style)
            column += len(label)
        return text

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return max(1, self.render().plain.count("\n") + 1)
