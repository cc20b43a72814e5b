"""The vehicle's defect record: the findings of its gates, for the rework bay (what to
fix).

The rework bay shows, with each item of a checklist step that has `show_findings`, the
findings the vehicle got at its gates (`finding` events), each gate's from its last
visit. The findings do not travel on the tag (its layout holds the route progress only):
they are the plant's record of the vehicle, as a defect sheet or the MES's defect list
is on a real line. Where the record comes from:

- a simulated line (`station line --simulate`): one `SharedDefects` for the whole line,
  fed by every station's committed `finding` events (a gate's new admission of the
  vehicle clears that gate's findings): the rework bay reads what the gate journaled;
- a station on its own (`station run`): `NoDefectRecord`, the prompt says the record is
  not available there. The plant collector holds every station's `finding` events
  (the passport's `findings`); a lookup of it by the rework bay is not built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from station import findings
from station.events import EventKind, FindingData
from station.journal import Event


class DefectRecord(Protocol):
    """The findings of a vehicle at each of its gates (None: no record here)."""

    def open_findings(self, vin: str) -> dict[str, list[FindingData]] | None: ...


class NoDefectRecord:
    """A station without the plant's defect record."""

    def open_findings(self, vin: str) -> dict[str, list[FindingData]] | None:
        return None


class SharedDefects:
    """The defect record of a simulated line, fed by its stations' events."""

    def __init__(self) -> None:
        self._by_vin: dict[str, dict[str, list[FindingData]]] = {}

    def listener(self, operation: str) -> Callable[[Event], None]:
        """What a station of `operation` calls with each committed event."""

        def note(event: Event) -> None:
            if event.vin is None:
                return
            if event.kind == EventKind.ADMITTED:  # a new visit at this gate
                self._by_vin.get(event.vin, {}).pop(operation, None)
            elif event.kind == EventKind.FINDING:
                gates = self._by_vin.setdefault(event.vin, {})
                gates.setdefault(operation, []).extend(event.data["findings"])

        return note

    def open_findings(self, vin: str) -> dict[str, list[FindingData]] | None:
        return {gate: list(found) for gate, found in self._by_vin.get(vin, {}).items() if found}


def shown(record: DefectRecord, vin: str) -> str:
    """The vehicle's findings as a prompt shows them, gate by gate."""
    gates = record.open_findings(vin)
    if gates is None:
        return "findings: no defect record at this station (see the gate's journal)"
    if not gates:
        return "findings: none recorded"
    return "findings: " + " | ".join(f"{g}: {findings.listed(f)}" for g, f in gates.items())
