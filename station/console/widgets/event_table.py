"""The station's recent journal events, newest first."""

from __future__ import annotations

from station.console.messages import ConsoleState
from station.console.widgets.state_table import StateTable


class EventTable(StateTable):
    COLUMNS = ("seq", "time", "event", "by", "VIN", "step", "result", "detail")

    def watch_state(self, state: ConsoleState) -> None:
        events = state.snapshot.events if state.snapshot is not None else []
        self.clear()
        for event in reversed(events):
            self.add_row(
                str(event["seq"]),
                event["wall"][11:19],
                event["kind"],
                event["operator"] or "",
                event["vin"] or "",
                event["step"] or "",
                event["result"] or "",
                event["detail"][:60],
            )
