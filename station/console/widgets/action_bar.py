"""The station screen's actions: one key and one touch button each.

Every action is offered to everyone; a button whose action the logged-in role
may not do is dimmed, and pressing it still asks the station, which refuses it
with the reason and journals the attempt (docs/faults.md row 29). So the console
never decides who may do what: `station.roles` on the runtime side does.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Button

from station.console.messages import NO_STATE, ConsoleState
from station.roles import ACTIONS


@dataclass(frozen=True)
class ConsoleAction:
    """A key, its label, the Textual action it runs, and the right it needs."""

    key: str
    label: str
    action: str
    right: str
    """The `station.roles.ACTIONS` entry the station checks."""


MACHINE_ACTIONS = (
    ConsoleAction("s", "Start", "screen.station('Start')", "start"),
    ConsoleAction("h", "Hold", "screen.station('Hold')", "hold"),
    ConsoleAction("u", "Unhold", "screen.station('Unhold')", "unhold"),
    ConsoleAction("r", "Reset", "screen.station('Reset')", "reset"),
    ConsoleAction("x", "Stop", "screen.station('Stop')", "stop"),
    ConsoleAction("c", "Clear", "screen.station('Clear')", "clear"),
)
"""PackML commands."""

PEOPLE_ACTIONS = (
    ConsoleAction("a", "Ack", "screen.acknowledge_first", "acknowledge"),
    ConsoleAction("d", "Done", "screen.station('ConfirmChecklistItem')", "confirm"),
    ConsoleAction("p", "Pass", "screen.station('EnterVerdict', 'pass')", "verdict"),
    ConsoleAction("f", "Fail", "screen.station('EnterVerdict', 'fail')", "verdict"),
    ConsoleAction("v", "VIN", "screen.manual_vin", "manual_vin"),
    ConsoleAction("g", "Go", "screen.station('ConfirmStep')", "confirm"),
    ConsoleAction("o", "Override", "screen.override", "override"),
    ConsoleAction("y", "Dispose", "screen.dispose", "dispose"),
)
"""Answers to prompts, alarms, and the supervisor's decisions."""

CONSOLE_ACTIONS = MACHINE_ACTIONS + PEOPLE_ACTIONS


def may(role: str, action: ConsoleAction) -> bool:
    """Whether `role` holds the right the action needs."""
    return role in ACTIONS[action.right]


class ActionBar(Vertical):
    DEFAULT_CSS = """
    ActionBar { height: 2; dock: bottom; }
    ActionBar Horizontal { height: 1; }
    ActionBar Button { margin: 0 1 0 0; min-width: 10; }
    ActionBar Button.-denied { text-opacity: 40%; }
    """

    state: reactive[ConsoleState] = reactive(NO_STATE, init=False)

    def compose(self) -> ComposeResult:
        for row in (MACHINE_ACTIONS, PEOPLE_ACTIONS):
            with Horizontal():
                for action in row:
                    yield Button(
                        Content(f"{action.label} [{action.key}]"),
                        id=f"button-{action.key}",
                        action=action.action,
                        compact=True,
                    )

    def watch_state(self, state: ConsoleState) -> None:
        for action in CONSOLE_ACTIONS:
            button = self.query_one(f"#button-{action.key}", Button)
            button.set_class(not may(state.link.role, action), "-denied")
