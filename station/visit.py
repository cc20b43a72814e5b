"""The vehicle in the station, rebuilt from the journal.

A visit is one cycle of the station: from the arrival of a vehicle to its
release. Its state is a fold of the journal's events since the visit's
`cycle_started` event: the runtime applies each event to the visit right
after it is committed, and after a crash the same fold over the journal
gives back exactly the same visit. So what the station remembers is what
the journal holds, by construction: nothing released twice, no step
skipped, no tag written twice with different content.

The vehicle's record through one cycle (docs/architecture.md section 6), and the
events that move it::

    queued --identified--> in station --verdict(s)--> passed / failed --released--> released
                             |   ^
                        hold |   | disposition retry (the held step runs again)
                             v   |
                             held --disposition remove--> cycle ended as held

- queued: `cycle_started` is journaled, no VIN yet (`vin` is None);
- in station: `identified` gave the VIN; `step_index` is the step to run next;
- passed or failed: the `outcome`, from the last verdict of the visit, the
  values measured in it (one out of its limits fails the visit) and its findings (one
  of a severity its gate fails on fails the visit); a station without inspection or
  measurement passes what it was given;
- held: `held` names the cause until a supervisor's disposition;
- released: `released` once the release step let the vehicle go; the visit
  ends with `cycle_ended` (`ended`: passed, failed, rework or held).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from station.events import (
    Admitted,
    AttributeFound,
    ChecklistItem,
    CycleEnded,
    CycleStarted,
    Disposition,
    Entry,
    EventKind,
    Finding,
    FindingData,
    Hold,
    Identified,
    IntakeProgress,
    Measured,
    OutputsSet,
    Override,
    PhotoSession,
    Released,
    StepDone,
    StepStarted,
    TagWrite,
    TagWritten,
    Verdict,
)
from station.journal import Event
from station.route import Outcome

_FOLDED: dict[EventKind, type[Entry]] = {
    entry.KIND: entry
    for entry in (
        CycleStarted,
        Identified,
        Admitted,
        StepStarted,
        StepDone,
        ChecklistItem,
        Verdict,
        Measured,
        Finding,
        AttributeFound,
        PhotoSession,
        Override,
        IntakeProgress,
        OutputsSet,
        TagWrite,
        TagWritten,
        Hold,
        Disposition,
        Released,
        CycleEnded,
    )
}

VISIT_KINDS = frozenset(_FOLDED)
"""Event kinds that change the visit (all others leave it as it is)."""


@dataclass
class Visit:
    """What the station knows of the vehicle it holds."""

    cycle: int
    vin: str | None = None
    model: str = ""
    tag_in: str | None = None
    """Hex of the tag as read at identification (None: blank or no tag)."""
    rework: bool = False
    step_index: int = 0
    """Step to run (or resume) next."""
    step_running: bool = False
    checklist: dict[int, int] = field(default_factory=dict)
    """Step index -> items confirmed."""
    verdicts: dict[int, str] = field(default_factory=dict)
    """Step index -> pass / fail."""
    measured: dict[int, dict[str, bool]] = field(default_factory=dict)
    """Step index -> quantity name -> within its limits (a measured value is never
    measured or asked again in this visit)."""
    findings: dict[int, list[FindingData]] = field(default_factory=dict)
    """Step index -> the findings journaled in it (never asked or taken twice)."""
    findings_complete: set[int] = field(default_factory=set)
    """Steps whose findings are all journaled (the device's list, or the inspector's none)."""
    findings_fail: bool = False
    """A finding of this visit has a severity its gate fails on."""
    found: dict[str, bool | None] = field(default_factory=dict)
    """Route attribute -> the value found in this visit, None when asked and not found
    (an attribute answered is never asked again in this visit)."""
    photo_complete: bool = False
    photo_overridden: bool = False
    tag_out: str | None = None
    """Hex of the progress written (or being written) to the tag."""
    tag_written: bool = False
    outputs: dict[str, int] = field(default_factory=dict)
    """Last value of each output set during this visit (re-asserted on a resume)."""
    held: str | None = None
    """Why the vehicle is held (None: not held)."""
    released: bool = False
    ended: str | None = None
    """passed, failed, rework or held once the cycle has ended."""

    @classmethod
    def begin(cls, started: CycleStarted) -> Visit:
        """The visit a `cycle_started` event opens."""
        return cls(cycle=int(started.data["cycle"]))

    @property
    def verdict(self) -> str | None:
        """The last verdict of this visit."""
        return list(self.verdicts.values())[-1] if self.verdicts else None

    @property
    def out_of_limits(self) -> bool:
        """Whether a value measured in this visit is outside its limits."""
        return any(not ok for values in self.measured.values() for ok in values.values())

    @property
    def outcome(self) -> Outcome:
        """failed when the last verdict of this visit was a fail, a measured value is
        out of its limits or a finding has a severity its gate fails on (no verdict
        passes a vehicle the limits or the findings fail), else passed."""
        failed = self.verdict == "fail" or self.out_of_limits or self.findings_fail
        return "failed" if failed else "passed"

    def apply(self, event: Event) -> None:
        """Fold one committed event into the visit."""
        entry_type = _FOLDED.get(EventKind(event.kind))
        if entry_type is None:
            return
        match entry_type.of(event):
            case Identified(vin=vin, data=data):
                self.vin = vin
                self.tag_in = data.get("tag")
                self.model = str(data.get("model", ""))
            case IntakeProgress(data=data):
                self.tag_in = str(data["tag"])
            case Admitted(data=data):
                self.rework = bool(data.get("rework", False))
            case StepStarted(step=step) if (index := _step_index(step)) is not None:
                self.step_index, self.step_running = index, True
            case StepDone(step=step) if (index := _step_index(step)) is not None:
                self.step_index, self.step_running = index + 1, False
            case ChecklistItem(step=step, data=data) if (index := _step_index(step)) is not None:
                self.checklist[index] = int(data["index"]) + 1
            case Verdict(step=step, result=result) if (index := _step_index(step)) is not None:
                self.verdicts[index] = result
            case Measured(step=step, data=data) if (index := _step_index(step)) is not None:
                values = self.measured.setdefault(index, {})
                values.update({str(v["name"]): bool(v["ok"]) for v in data["values"]})
            case Finding(step=step, result=result, data=data) if (
                index := _step_index(step)
            ) is not None:
                self.findings.setdefault(index, []).extend(data["findings"])
                if data["complete"]:
                    self.findings_complete.add(index)
                self.findings_fail = self.findings_fail or result == "fail"
            case AttributeFound(result=result, data=data):
                self.found[data["attribute"]] = data["value"] if result == "found" else None
            case PhotoSession(result=result):
                self.photo_complete = result == "complete"
            case Override(data=data) if data.get("what") == "photo_session":
                self.photo_overridden = True
            case OutputsSet(data=data):
                self.outputs.update({str(k): int(v) for k, v in data.items()})
            case TagWrite(data=data):
                self.tag_out, self.tag_written = str(data["tag"]), False
            case TagWritten():
                self.tag_written = True
            case Hold(vin=vin, result=result):
                self.held = result or "held"
                self.vin = self.vin or vin
            case Disposition(data=data) if data.get("action") == "retry":
                self.held = None
            case Released():
                self.released = True
            case CycleEnded(result=result):
                self.ended = result


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
        if event.kind == EventKind.CYCLE_STARTED:
            visit = Visit.begin(CycleStarted.of(event))
        elif visit is not None and event.kind in VISIT_KINDS:
            visit.apply(event)
    if visit is None or visit.ended is not None:
        return None
    return visit
