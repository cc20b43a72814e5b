"""The vehicle in the station, rebuilt from the journal.

A visit is one cycle of the station: from the arrival of a vehicle to its
release. Its state is a fold of the journal's events since the visit's
`cycle_started` event: the runtime applies each event to the visit right
after it is committed, and after a crash the same fold over the journal
gives back exactly the same visit. So what the station remembers is what
the journal holds, by construction: nothing released twice, no step
skipped, no tag written twice with different content.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from station.journal import Event

VISIT_KINDS = frozenset(
    {
        "cycle_started",
        "identified",
        "admitted",
        "violation",
        "step_started",
        "step_done",
        "checklist_item",
        "verdict",
        "photo_session",
        "override",
        "progress",
        "outputs",
        "tag_write",
        "tag_written",
        "hold",
        "disposition",
        "released",
        "cycle_ended",
    }
)
"""Event kinds that change the visit (all others leave it as it is)."""


@dataclass
class Visit:
    """What the station knows of the vehicle it holds."""

    cycle: int
    vin: str | None = None
    model: str = ""
    tag_in: str | None = None
    """Hex of the tag as read at identification (None: blank or no tag)."""
    operation: str | None = None
    rework: bool = False
    step_index: int = 0
    """Step to run (or resume) next."""
    step_running: bool = False
    checklist: dict[int, int] = field(default_factory=dict)
    """Step index -> items confirmed."""
    verdicts: dict[int, str] = field(default_factory=dict)
    """Step index -> pass / fail."""
    photo_complete: bool = False
    photo_overridden: bool = False
    tag_out: str | None = None
    """Hex of the progress written (or being written) to the tag."""
    tag_written: bool = False
    outputs: dict[str, int] = field(default_factory=dict)
    """Last value of each output set during this visit (re-asserted on a resume)."""
    violation: dict[str, Any] | None = None
    held: str | None = None
    """Why the vehicle is held (None: not held)."""
    released: bool = False
    ended: str | None = None
    """passed, failed, rework or held once the cycle has ended."""

    @property
    def verdict(self) -> str | None:
        """The last verdict of this visit."""
        return list(self.verdicts.values())[-1] if self.verdicts else None

    def apply(self, event: Event) -> None:
        """Fold one committed event into the visit."""
        kind, data = event.kind, event.data
        step = _step_index(event.step)
        if kind == "identified":
            self.vin = event.vin
            self.tag_in = data.get("tag")
            self.model = str(data.get("model", ""))
        elif kind == "progress":
            self.tag_in = str(data["tag"])
        elif kind == "admitted":
            self.operation = str(data["operation"])
            self.rework = bool(data.get("rework", False))
        elif kind == "violation":
            self.violation = dict(data)
        elif kind == "step_started" and step is not None:
            self.step_index, self.step_running = step, True
        elif kind == "step_done" and step is not None:
            self.step_index, self.step_running = step + 1, False
        elif kind == "checklist_item" and step is not None:
            self.checklist[step] = int(data["index"]) + 1
        elif kind == "verdict" and step is not None and event.result is not None:
            self.verdicts[step] = event.result
        elif kind == "photo_session":
            self.photo_complete = event.result == "complete"
        elif kind == "override" and data.get("what") == "photo_session":
            self.photo_overridden = True
        elif kind == "outputs":
            self.outputs.update({str(k): int(v) for k, v in data.items()})
        elif kind == "tag_write":
            self.tag_out, self.tag_written = str(data["tag"]), False
        elif kind == "tag_written":
            self.tag_written = True
        elif kind == "hold":
            self.held = event.result or "held"
            self.vin = self.vin or event.vin
        elif kind == "disposition" and data.get("action") == "retry":
            self.held = None
        elif kind == "released":
            self.released = True
        elif kind == "cycle_ended":
            self.ended = event.result


def _step_index(step: str | None) -> int | None:
    """Events name steps as 'INDEX:kind' (e.g. '3:set_outputs')."""
    if step is None or ":" not in step:
        return None
    return int(step.split(":", 1)[0])


def restore(events: Iterable[Event]) -> Visit | None:
    """The open visit after a restart: the fold of events since the last
    `cycle_started`, or None when the last cycle ended (station empty)."""
    visit: Visit | None = None
    for event in events:
        if event.kind == "cycle_started":
            visit = Visit(cycle=int(event.data["cycle"]))
        elif visit is not None and event.kind in VISIT_KINDS:
            visit.apply(event)
    if visit is None or visit.ended is not None:
        return None
    return visit
