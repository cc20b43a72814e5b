"""What the station shows of its gates' data: measurements and findings, for the console,
the OPC UA interface and the Sparkplug metrics (parts of the `station.status.Status`).

- `Readings`: a fold of the journal's `measured` events, kept by the runtime beside the
  visit (rebuilt from the journal at start, then fed every committed event): the last
  measurement of each quantity, of whichever vehicle (SCADA's `Measurements/<name>`),
  and the values measured in the open visit (the console's vehicle panel).
- `last_measurements`: every quantity of the station's steps with its last measurement
  (one not measured yet has its unit and limits from the config, no value), so SCADA
  and a Sparkplug NBIRTH see the same names from the start.
- `asked`: what an open measurement or finding prompt asks for, as data (the quantity
  with its limits and physical range; the catalogue's codes with their severity), for
  the console's entry dialogs. The check of a typed answer stays the station's
  (`Prompt.check`): the console shows its refusal, it does not judge.

Values are shown as `station.limits.shown` words them ('FAIL: 64.0 % < 70.0 %'), from the
limits journaled with them.
"""

from __future__ import annotations

from collections.abc import Iterable

from station import limits
from station.config.models import InspectStep, MeasureStep, Quantity, StationFile
from station.events import EventKind, Measured, MeasuredValue
from station.journal import Event
from station.prompts import Prompt
from station.status import FindingStatus, MeasurementStatus, PromptStatus
from station.visit import Visit


def measurement_status(value: MeasuredValue, measured: Measured, wall: str) -> MeasurementStatus:
    """One journaled value as the status shows it."""
    bounds = limits.Bounds.of(value)
    return {
        "name": value["name"],
        "value": value["value"],
        "unit": value["unit"],
        "limits": limits.describe(bounds),
        "verdict": "pass" if value["ok"] else "fail",
        "shown": limits.shown(value["value"], bounds),
        "vin": measured.vin,
        "source": measured.data["source"],
        "operator": measured.operator,
        "time": wall,
    }


def not_measured(name: str, quantity: Quantity) -> MeasurementStatus:
    """A quantity of the config with no measurement yet."""
    return {
        "name": name,
        "value": None,
        "unit": quantity.unit,
        "limits": limits.describe(quantity),
        "verdict": "",
        "shown": "",
        "vin": None,
        "source": "",
        "operator": "",
        "time": None,
    }


class Readings:
    """The last measurement of each quantity and the open visit's values, folded from
    the journal's events."""

    def __init__(self) -> None:
        self.last: dict[str, MeasurementStatus] = {}
        self.visit: list[MeasurementStatus] = []

    @classmethod
    def of(cls, events: Iterable[Event]) -> Readings:
        """The readings after these events (the journal, at start)."""
        readings = cls()
        for event in events:
            readings.apply(event)
        return readings

    def apply(self, event: Event) -> None:
        """Fold one committed event (only `cycle_started` and `measured` change them)."""
        if event.kind == EventKind.CYCLE_STARTED:
            self.visit = []
        elif event.kind == EventKind.MEASURED:
            measured = Measured.of(event)
            for value in measured.data["values"]:
                shown = measurement_status(value, measured, event.wall)
                self.visit.append(shown)
                self.last[shown["name"]] = shown


def quantities(config: StationFile) -> dict[str, Quantity]:
    """Every quantity the station's steps measure, by name, in step order."""
    found: dict[str, Quantity] = {}
    for step in config.cycle:
        if isinstance(step, MeasureStep | InspectStep):
            found.update(step.quantities)
    return found


def last_measurements(config: StationFile, readings: Readings) -> dict[str, MeasurementStatus]:
    """Each quantity of the config with its last measurement (or none yet)."""
    return {
        name: readings.last.get(name) or not_measured(name, quantity)
        for name, quantity in quantities(config).items()
    }


def visit_findings(visit: Visit) -> list[FindingStatus]:
    """The visit's findings, step by step, in the order they were journaled."""
    return [
        {"code": f["code"], "severity": f["severity"], "text": f["text"], "note": f["note"]}
        for index in sorted(visit.findings)
        for f in visit.findings[index]
    ]


def asked(prompt: Prompt, config: StationFile, step_index: int) -> PromptStatus:
    """The open prompt with what it asks for as data: a measurement prompt's quantity
    (of the measure step running), a finding prompt's catalogue."""
    status = prompt.to_dict()
    step = config.cycle[min(step_index, len(config.cycle) - 1)]
    if prompt.kind == "measurement" and isinstance(step, MeasureStep):
        quantity = step.quantities.get(prompt.name)
        if quantity is not None:
            status["quantity"] = {
                "name": prompt.name,
                "description": quantity.description,
                "unit": quantity.unit,
                "decimals": quantity.decimals,
                "limits": limits.describe(quantity),
                "physical_min": quantity.physical_min,
                "physical_max": quantity.physical_max,
            }
    elif prompt.kind == "finding":
        status["catalogue"] = [
            {"code": code, "severity": entry.severity, "text": entry.text}
            for code, entry in config.findings.items()
        ]
    return status
