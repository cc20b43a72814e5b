"""The station at a glance: state and stack light, vehicle, route strip with gates,
current step with its progress, the open question, alarms, and the action keys.

Its actions (the action bar's keys and buttons) post `CommandRequested` for the
app to call the station; those that need a text first ask it in a dialog. A measured
value or a finding is entered in a dialog of its own, opened with `e` or a click on the
prompt while the station asks one (not a button: the action bar is full at 120
columns)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal

from station.console.messages import ActionDeclined, CommandRequested
from station.console.screens.console_screen import ConsoleScreen
from station.console.screens.dispose import DisposeScreen
from station.console.screens.finding_entry import FindingScreen
from station.console.screens.measurement_entry import MeasurementScreen
from station.console.screens.text_entry import TextEntryScreen
from station.console.widgets.action_bar import CONSOLE_ACTIONS, ActionBar
from station.console.widgets.alarm_banner import AlarmBanner
from station.console.widgets.counts_panel import CountsPanel
from station.console.widgets.prompt_panel import PromptPanel
from station.console.widgets.route_strip import RouteStrip
from station.console.widgets.stack_light import StackLight
from station.console.widgets.state_banner import StateBanner
from station.console.widgets.step_panel import StepPanel
from station.console.widgets.vehicle_panel import VehiclePanel


class StationScreen(ConsoleScreen):
    # The buttons show the action keys; the footer keeps room for the screens' keys.
    BINDINGS = [
        *(Binding(a.key, a.action, a.label, show=False) for a in CONSOLE_ACTIONS),
        Binding("e", "enter", "Enter a value or finding", show=False),
    ]
    DEFAULT_CSS = """
    StationScreen #top { height: 5; }
    """

    def compose_body(self) -> ComposeResult:
        state = ConsoleScreen.state
        with Horizontal(id="top"):
            yield StackLight().data_bind(state)
            yield StateBanner().data_bind(state)
            yield CountsPanel().data_bind(state)
        yield VehiclePanel().data_bind(state)
        yield RouteStrip().data_bind(state)
        yield StepPanel().data_bind(state)
        yield PromptPanel().data_bind(state)
        yield AlarmBanner().data_bind(state)
        yield ActionBar().data_bind(state)

    def action_station(self, method: str, *args: str | int) -> None:
        self.post_message(CommandRequested(method, args))

    def action_acknowledge_first(self) -> None:
        snapshot = self.state.snapshot
        alarms = snapshot.status["alarms"] if snapshot is not None else []
        waiting = [a for a in alarms if not a["acked_by"]]
        if not waiting:
            self.post_message(ActionDeclined("no alarm to acknowledge"))
            return
        self.action_station("AcknowledgeAlarm", waiting[0]["key"])

    def action_enter(self) -> None:
        """The dialog for what the station asks: a measured value or a finding."""
        snapshot = self.state.snapshot
        prompt = snapshot.status["prompt"] if snapshot is not None else None
        if prompt is not None and prompt["kind"] == "measurement":
            self.app.push_screen(MeasurementScreen())
        elif prompt is not None and prompt["kind"] == "finding":
            self.app.push_screen(FindingScreen(prompt["catalogue"]))
        elif prompt is not None and prompt["kind"] == "attribute":

            def answered(answer: str | None) -> None:
                if answer is not None:
                    self.action_station("EnterAttribute", answer.strip().lower())

            question = f"{prompt['text']} (yes or no)"
            self.app.push_screen(TextEntryScreen(question, "yes or no"), answered)
        else:
            self.post_message(
                ActionDeclined("nothing to enter: no measurement, finding or attribute asked")
            )

    def action_manual_vin(self) -> None:
        def entered(vin: str | None) -> None:
            if vin is not None:
                self.action_station("ManualVin", vin)

        self.app.push_screen(TextEntryScreen("Type the VIN (17 characters)", "VIN"), entered)

    def action_override(self) -> None:
        def entered(reason: str | None) -> None:
            if reason is not None:
                self.action_station("Override", "photo_session", reason)

        question = "Accept the incomplete photo session: why? (journaled)"
        self.app.push_screen(TextEntryScreen(question, "reason"), entered)

    def action_dispose(self) -> None:
        def decided(decision: tuple[str, str] | None) -> None:
            if decision is not None:
                self.action_station("Dispose", *decision)

        self.app.push_screen(DisposeScreen(), decided)
