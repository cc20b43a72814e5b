"""The vehicle's record through one cycle, as the fold of the journal's events
(`station.visit`): queued -> in station -> passed / failed / held -> released.

Events are committed to a real journal and folded as the runtime does; after
every event, a restart (`restore` over the journal) gives back the same visit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from station.events import (
    AttributeFound,
    CycleEnded,
    CycleStarted,
    Disposition,
    Entry,
    Hold,
    Identified,
    Measured,
    MeasuredValue,
    OutputsSet,
    Released,
    StepDone,
    StepStarted,
    Verdict,
)
from station.journal import Journal
from station.visit import VISIT_KINDS, Visit, restore

VIN = "VF1RFB00X66123456"


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    journal = Journal.open(tmp_path / "journal.sqlite3", "photo-studio")
    journal.config_hash = "c0ffee"
    yield journal
    await journal.close()


async def replay(journal: Journal, entries: Sequence[Entry]) -> Visit | None:
    """Commit the entries, folding each into the visit as the runtime does; after
    each, a restart from the journal must give back the same visit."""
    visit: Visit | None = None
    for entry in entries:
        event = await journal.append(entry.KIND.value, **entry.fields())
        if isinstance(entry, CycleStarted):
            visit = Visit.begin(CycleStarted.of(event))
        elif visit is not None and event.kind in VISIT_KINDS:
            visit.apply(event)
        open_visit = None if visit is None or visit.ended is not None else visit
        assert restore(journal.events()) == open_visit, f"after {entry.KIND}"
    return visit


def step(index: int, kind: str) -> tuple[StepStarted, StepDone]:
    where = f"{index}:{kind}"
    return StepStarted(vin=VIN, step=where), StepDone(vin=VIN, step=where, result="ok")


IDENTIFY = step(0, "identify")
IDENTIFIED = Identified(
    vin=VIN, step="0:identify", result="barcode", data={"tag": None, "model": "Clio"}
)


async def test_a_visit_is_queued_until_the_vehicle_is_identified(journal: Journal) -> None:
    visit = await replay(journal, [CycleStarted(data={"cycle": 1}), IDENTIFY[0]])
    assert visit is not None
    assert (visit.cycle, visit.vin, visit.step_index, visit.step_running) == (1, None, 0, True)


async def test_identified_the_vehicle_is_in_the_station_at_its_next_step(journal: Journal) -> None:
    visit = await replay(
        journal, [CycleStarted(data={"cycle": 1}), IDENTIFY[0], IDENTIFIED, IDENTIFY[1]]
    )
    assert visit is not None
    assert (visit.vin, visit.model, visit.step_index, visit.step_running) == (VIN, "Clio", 1, False)
    assert visit.outcome == "passed"  # no inspection: it passes what it was given


@pytest.mark.parametrize(
    ("verdicts", "outcome"),
    [(["pass"], "passed"), (["pass", "fail"], "failed"), (["fail", "pass"], "passed")],
)
async def test_the_last_verdict_decides_passed_or_failed(
    journal: Journal, verdicts: list[str], outcome: str
) -> None:
    given = [
        Verdict(vin=VIN, step=f"{1 + i}:inspect", result=v, operator="ines")
        for i, v in enumerate(verdicts)
    ]
    visit = await replay(journal, [CycleStarted(data={"cycle": 1}), IDENTIFIED, *given])
    assert visit is not None
    assert visit.outcome == outcome
    assert visit.verdicts == {1 + i: v for i, v in enumerate(verdicts)}


def value(name: str, ok: bool) -> MeasuredValue:
    return {
        "name": name,
        "value": 64.0 if not ok else 81.5,
        "unit": "%",
        "decimals": 1,
        "low": 70.0,
        "low_inclusive": True,
        "high": None,
        "high_inclusive": True,
        "ok": ok,
    }


async def test_measured_values_are_kept_per_step_and_one_out_of_limits_fails_the_visit(
    journal: Journal,
) -> None:
    """A restart gives back what was measured (never measured twice), and a value out of
    its limits fails the visit whatever a later verdict says."""
    typed = Measured(
        vin=VIN,
        step="3:measure",
        result="pass",
        operator="ines",
        data={"source": "typed", "values": [value("soc_pct", True)]},
    )
    read = Measured(
        vin=VIN,
        step="3:measure",
        result="fail",
        operator="tester",
        data={"source": "device:tester", "values": [value("soh_pct", False)]},
    )
    verdict = Verdict(vin=VIN, step="4:inspect", result="pass", operator="ines")
    visit = await replay(journal, [CycleStarted(data={"cycle": 1}), IDENTIFIED, typed])
    assert visit is not None
    assert (visit.measured, visit.outcome) == ({3: {"soc_pct": True}}, "passed")
    for entry in (read, verdict):
        visit.apply(await journal.append(entry.KIND.value, **entry.fields()))
        assert restore(journal.events()) == visit, f"after {entry.KIND}"
    assert visit.measured == {3: {"soc_pct": True, "soh_pct": False}}
    assert visit.outcome == "failed"


async def test_released_then_ended_the_station_is_empty_after_a_restart(journal: Journal) -> None:
    release = [
        OutputsSet(vin=VIN, step="1:release", operator=None, data={"gate_open": 1}),
        Released(vin=VIN, step="1:release", result="passed"),
    ]
    visit = await replay(journal, [CycleStarted(data={"cycle": 1}), IDENTIFIED, *release])
    assert visit is not None and visit.released and visit.outputs == {"gate_open": 1}
    assert restore(journal.events()) == visit  # released, not yet ended: not released again
    ended = CycleEnded(vin=VIN, result="passed")
    visit.apply(await journal.append(ended.KIND.value, **ended.fields()))
    assert visit.ended == "passed"
    assert restore(journal.events()) is None


async def test_a_held_vehicle_retried_runs_the_held_step_again(journal: Journal) -> None:
    held_step = StepStarted(vin=VIN, step="1:verify_route")
    hold = Hold(vin=VIN, result="turning_back", data={"message": "turning back"})
    visit = await replay(journal, [CycleStarted(data={"cycle": 1}), IDENTIFIED, held_step, hold])
    assert visit is not None and visit.held == "turning_back"
    retry = Disposition(vin=VIN, operator="sam", data={"action": "retry", "reason": "fixed"})
    event = await journal.append(retry.KIND.value, **retry.fields())
    visit.apply(event)
    assert visit.held is None
    assert (visit.step_index, visit.step_running) == (1, True)  # no step skipped
    assert restore(journal.events()) == visit


async def test_a_held_vehicle_removed_ends_its_cycle_as_held(journal: Journal) -> None:
    hold = Hold(vin=None, result="noread", data={"message": "no VIN"})
    remove = Disposition(vin=None, operator="sam", data={"action": "remove", "reason": "no label"})
    visit = await replay(
        journal,
        [CycleStarted(data={"cycle": 1}), hold, remove, CycleEnded(vin=None, result="held")],
    )
    assert visit is not None and (visit.held, visit.ended) == ("noread", "held")
    assert restore(journal.events()) is None


def answered(attribute: str, found: bool) -> AttributeFound:
    return AttributeFound(
        vin=VIN,
        step="2:find_attributes",
        result="found" if found else "not_found",
        operator="olga",
        data={
            "attribute": attribute,
            "value": True,
            "operation": "diagnosis",
            "source": "typed",
            "question": f"{attribute}?",
        },
    )


async def test_attributes_found_are_kept_and_never_asked_again_after_a_restart(
    journal: Journal,
) -> None:
    """Each answer is in the visit after a restart (the step skips what is answered):
    found with its value, not found as None; the outcome is not changed by them."""
    started = StepStarted(vin=VIN, step="2:find_attributes")
    visit = await replay(
        journal,
        [
            CycleStarted(data={"cycle": 1}),
            IDENTIFIED,
            started,
            answered("needs_bodywork", True),
            answered("ev", False),
        ],
    )
    assert visit is not None
    assert visit.found == {"needs_bodywork": True, "ev": None}
    assert (visit.step_index, visit.step_running, visit.outcome) == (2, True, "passed")
