"""The address space's variables: node id -> (value, type) from one status snapshot,
the PackML numbers they use, and what Events/Recent shows of a journal event.

Pure functions of the status (`station.status.Status`) and the journal's events: no
server, no I/O, no asyncua (the station's process computes them).
`station.interface.publisher` writes what they return.
"""

from __future__ import annotations

import json
from typing import Any

from station import interface
from station.fsm import PACKML_STATE_NUMBERS, PACKML_UNIT_MODES, State, UnitMode
from station.interface import MEASUREMENTS, V
from station.journal import Event
from station.status import AlarmStatus, PromptStatus, Status

PACKML_VERSION = "OPC 30050 base (subset)"

Variables = dict[str, tuple[Any, V]]
"""Node id -> (value, type); a value None is not known (its link is down)."""


def _alarm_line(alarm: AlarmStatus) -> str:
    flags = ("" if alarm["active"] else " (cleared)") + (
        f" (acknowledged by {alarm['acked_by']})" if alarm["acked_by"] else ""
    )
    return f"P{alarm['priority']} {alarm['key']}: {alarm['text']}{flags}"


NO_PROMPT: PromptStatus = {
    "kind": "",
    "text": "",
    "options": [],
    "item": 0,
    "name": "",
    "quantity": None,
    "catalogue": [],
}


def variables(status: Status) -> Variables:
    """Node id -> (value, type) of every variable, from one status snapshot."""
    counts = status["counts"]
    prompt = status["prompt"] or NO_PROMPT
    alarms = status["alarms"]
    route = status["route"]
    done = [op["operation"] for op in route if op["done"]]
    values: Variables = {
        "Station.TagID": (status["station"], V.String),
        "Station.Operation": (status["operation"], V.String),
        "Station.PackMLVersion": (PACKML_VERSION, V.String),
        "Station.BaseStateMachine.CurrentState": (status["state"], V.LocalizedText),
        "Station.Status.StateCurrent": (PACKML_STATE_NUMBERS[State(status["state"])], V.Int32),
        "Station.Status.UnitModeCurrent": (PACKML_UNIT_MODES[UnitMode(status["mode"])], V.Int32),
        "Station.Status.UnitModeName": (status["mode"], V.String),
        "Station.Status.EquipmentBlocked": (bool(status["blocked"]), V.Boolean),
        "Station.Status.EquipmentStarved": (bool(status["starved"]), V.Boolean),
        interface.STATUS_JSON: (json.dumps(status, sort_keys=True), V.String),
        "Station.Admin.ProdProcessedCount": (counts["cycles"], V.Int32),
        "Station.Admin.ProdDefectiveCount": (counts["failed"], V.Int32),
        "Station.Admin.ProdPassedCount": (counts["passed"], V.Int32),
        "Station.Admin.ProdReworkCount": (counts["rework"], V.Int32),
        "Station.Admin.ProdHeldCount": (counts["held"], V.Int32),
        "Station.Admin.AlarmExtent": (len(alarms), V.Int32),
        "Station.Admin.Alarm": ([_alarm_line(a) for a in alarms], V.String),
        "Station.Vehicle.VIN": (status["vin"] or "", V.String),
        "Station.Vehicle.Model": (status["model"] or "", V.String),
        "Station.Vehicle.Held": (status["held"] or "", V.String),
        "Station.Vehicle.RouteDone": (done, V.String),
        "Station.Vehicle.RouteProgress": (f"{len(done)}/{len(route)}", V.String),
        "Station.Step.Index": (status["step_index"], V.Int32),
        "Station.Step.Count": (status["step_count"], V.Int32),
        "Station.Step.Name": (status["step"], V.String),
        "Station.Step.Progress": (float(status["step_progress"]), V.Double),
        "Station.Prompt.Kind": (prompt["kind"], V.String),
        "Station.Prompt.Text": (prompt["text"], V.String),
        "Station.Prompt.Options": (list(prompt["options"]), V.String),
        "Station.Prompt.Item": (prompt["item"], V.Int32),
        "Station.Prompt.Name": (prompt["name"], V.String),
        "Station.Alarms.Active": ([a["key"] for a in alarms if a["active"]], V.String),
        "Station.Alarms.Unacknowledged": (
            [a["key"] for a in alarms if not a["acked_by"]],
            V.String,
        ),
        "Station.Alarms.Json": (json.dumps(alarms, sort_keys=True), V.String),
    }
    for name, value in status["inputs"].items():
        values[f"Station.IO.Inputs.{name}"] = (value, V.Int32)
    for name, value in status["outputs"].items():
        values[f"Station.IO.Outputs.{name}"] = (value, V.Int32)
    for name, up in status["links"].items():
        values[f"Station.IO.Links.{name}"] = (bool(up), V.Boolean)
    for name, last in status["last_measurements"].items():
        node = f"{MEASUREMENTS}.{name}"
        measured = last["value"]
        values[f"{node}.Value"] = (None if measured is None else float(measured), V.Double)
        values[f"{node}.Unit"] = (last["unit"], V.String)
        values[f"{node}.Limits"] = (last["limits"], V.String)
        values[f"{node}.Verdict"] = (last["verdict"], V.String)
        values[f"{node}.Time"] = (last["time"], V.DateTime)
        values[f"{node}.VIN"] = (last["vin"] or "", V.String)
    return values


def event_summary(event: Event) -> dict[str, Any]:
    """What the console shows of a journal event."""
    detail = json.dumps(event.data, sort_keys=True, separators=(",", ":")) if event.data else ""
    return {
        "seq": event.seq,
        "wall": event.wall,
        "kind": event.kind,
        "vin": event.vin,
        "step": event.step,
        "result": event.result,
        "operator": event.operator,
        "detail": detail[:200],
    }
