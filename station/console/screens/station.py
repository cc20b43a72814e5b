"""The station at a glance: state and stack light, vehicle, route strip with gates,
current step with its progress, the open question, alarms, and the action keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal

from station.console.screens.console_screen import ConsoleScreen
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
    BINDINGS = [Binding(a.key, a.action, a.label, show=False) for a in CONSOLE_ACTIONS]
    DEFAULT_CSS = """
    StationScreen #top { height: 5; }
    """

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield StackLight()
            yield StateBanner()
            yield CountsPanel()
        yield VehiclePanel()
        yield RouteStrip()
        yield StepPanel()
        yield PromptPanel()
        yield AlarmBanner()
        yield ActionBar()
