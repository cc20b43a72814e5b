"""What in a scenario a line cannot run, checked before the run: `station.scenario`'s
check (the one `station run` makes too) against the line and all its station files."""

from __future__ import annotations

from pathlib import Path

from station import scenario as scenarios
from station.simulation.line._layout import LineLayout


def check_scenario(
    layout: LineLayout, scenario: scenarios.Scenario, source: Path | str
) -> list[str]:
    """What in the scenario the line cannot run, each naming `source` and the path
    (`station.scenario.check_scenario`)."""
    return scenarios.check_scenario(scenario, layout.line, layout.stations, source)
