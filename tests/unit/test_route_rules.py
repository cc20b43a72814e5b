"""The route rules on the plant's line 1, case by case.

Each violation kind is named with what was expected and what was found; the
outcomes of `complete` (pass, gate fail and rework loop, hold after the
loops are used up, rework asked by a work station); the route snapshot and
its hash; and the boundary of the rules module (no hal, no simulators, no
I/O).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from route_strategies import CONFIG_LINES, LINES_DIR

import station.progress_check
import station.route
from station.config.loader import load_line
from station.config.models import LineFile
from station.route import (
    RELEASED,
    SUPERVISOR,
    Admitted,
    Found,
    Hold,
    Outcome,
    Progress,
    RouteError,
    RouteSnapshot,
    Violation,
    admit,
    complete,
    due_operations,
    find,
    intake,
    next_operation,
    released,
)
from station.vin import VinError

LINE1 = load_line(LINES_DIR / "line1.yaml").model
DOUBLED = load_line(LINES_DIR / "line1-doubled.yaml").model
LINE2 = next(line for line in CONFIG_LINES if line.line == "line-2")
ROUTE = RouteSnapshot.from_line(LINE1)
VIN = "1M8GDM9AXKP042788"
TO_CLEANING = ["intake", "diagnosis", "electromechanics", "cleaning"]
TC = "technical-control"


def vehicle(
    history: Sequence[str | tuple[str, Outcome]],
    attributes: Sequence[str] = (),
    route: RouteSnapshot = ROUTE,
) -> Progress:
    """Progress after intake and these completions (an operation alone means passed)."""
    progress = intake(route, VIN, attributes)
    for item in history:
        operation, outcome = (item, "passed") if isinstance(item, str) else item
        progress = complete(route, progress, operation, outcome)
    return progress


def edited(line: LineFile, **route_changes: object) -> RouteSnapshot:
    route = line.route.model_copy(update=route_changes)
    return RouteSnapshot.from_line(line.model_copy(update={"route": route}))


TC_FAILED = [*TO_CLEANING, (TC, "failed")]
ALL_DONE = [*TO_CLEANING, TC, "photo", "quality-control", "exit"]

VIOLATIONS = [
    # (case, progress, attributes, presented at, kind, expected, found)
    ("no progress off check-in", None, (), "diagnosis", "unknown_vehicle", "intake", "diagnosis"),
    ("back upstream", TO_CLEANING, (), "diagnosis", "turning_back", TC, "diagnosis"),
    ("at a gate passed", [*TO_CLEANING, TC], (), TC, "turning_back", "photo", TC),
    ("at an upstream op not due", TO_CLEANING, (), "bodywork", "turning_back", TC, "bodywork"),
    ("upstream of a failed gate", TC_FAILED, (), "cleaning", "turning_back", "rework",
     "cleaning"),
    ("released", ALL_DONE, (), "exit", "turning_back", RELEASED, "exit"),
    ("one step ahead", ["intake"], (), "electromechanics", "skipped_operation", "diagnosis",
     "electromechanics"),
    ("past a due conditional op", TO_CLEANING[:3], ["needs_bodywork"], "cleaning",
     "skipped_operation", "bodywork", "cleaning"),
    ("rework with nothing failed", ["intake"], (), "rework", "skipped_operation", "diagnosis",
     "rework"),
    ("failed gate again before rework", TC_FAILED, (), TC, "skipped_operation", "rework", TC),
    ("past a gate not reached", TO_CLEANING, (), "photo", "skipped_gate", TC, "photo"),
    ("past the EV gate", [*TO_CLEANING, TC], ["ev"], "photo", "skipped_gate",
     "battery-qualification", "photo"),
    ("past a failed gate", TC_FAILED, (), "quality-control", "skipped_gate", "rework",
     "quality-control"),
    ("at a non-EV's skipped gate", TO_CLEANING, (), "battery-qualification", "skipped_gate", TC,
     "battery-qualification"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("history", "attributes", "operation", "kind", "expected", "found"),
    [case[1:] for case in VIOLATIONS],
    ids=[case[0] for case in VIOLATIONS],
)
def test_each_violation_names_its_kind_expected_and_found(
    history: list[str] | None,
    attributes: list[str],
    operation: str,
    kind: str,
    expected: str,
    found: str,
) -> None:
    progress = None if history is None else vehicle(history, attributes)
    verdict = admit(ROUTE, progress, operation)
    assert isinstance(verdict, Violation)
    assert (verdict.kind, verdict.expected, verdict.found) == (kind, expected, found)
    assert kind.replace("_", " ") in verdict.message
    assert expected in verdict.message or expected == RELEASED
    assert found in verdict.message
    assert "\n" not in verdict.message


def test_a_vehicle_held_after_its_loops_is_refused_everywhere_as_on_hold() -> None:
    progress = vehicle([*TO_CLEANING, *[(TC, "failed"), "rework"] * 2, (TC, "failed")])
    assert progress.on_hold == Hold("rework_exhausted", TC)
    for operation in ["rework", TC, "photo", "intake"]:
        verdict = admit(ROUTE, progress, operation)
        assert isinstance(verdict, Violation)
        assert (verdict.kind, verdict.expected, verdict.found) == ("on_hold", SUPERVISOR, operation)
        assert "rework loops used up at technical-control" in verdict.message


def test_a_route_edit_does_not_change_vehicles_on_the_line_and_stations_say_so() -> None:
    progress = vehicle(TO_CLEANING)
    new_route = edited(LINE1, version=2, operations=LINE1.route.operations[:-1])
    verdict = admit(new_route, progress, TC)
    assert isinstance(verdict, Violation)
    assert verdict.kind == "route_changed"
    assert verdict.expected == f"v1 #{ROUTE.hash}"
    assert verdict.found == f"v2 #{new_route.hash}"
    assert verdict.message == (
        f"{VIN}: route changed: the vehicle was checked in under route v1 #{ROUTE.hash}, "
        f"this station runs line line-1 v2 #{new_route.hash}"
    )
    assert next_operation(ROUTE, progress) == ROUTE.operations[ROUTE.index(TC)]
    assert admit(ROUTE, progress, TC) == Admitted(ROUTE.operations[ROUTE.index(TC)])


def test_same_version_another_line_is_a_route_change() -> None:
    verdict = admit(RouteSnapshot.from_line(LINE2), vehicle(["intake"]), "cleaning")
    assert isinstance(verdict, Violation) and verdict.kind == "route_changed"
    assert verdict.expected != verdict.found


def test_check_in_is_admitted_without_progress_and_creates_none_itself() -> None:
    assert admit(ROUTE, None, "intake") == Admitted(ROUTE.operations[0])
    progress = intake(ROUTE, f"*I{VIN}*", ["ev"])
    assert progress == Progress(VIN, 1, ROUTE.hash, frozenset({"ev"}))
    assert next_operation(ROUTE, progress) == ROUTE.operations[0]


def test_a_failed_gate_goes_to_rework_which_returns_it_to_that_gate() -> None:
    failed = vehicle(TC_FAILED)
    assert (failed.failed_gate, failed.loops(TC), failed.on_hold) == (TC, 1, None)
    assert next_operation(ROUTE, failed) == ROUTE.rework
    assert admit(ROUTE, failed, "rework") == Admitted(ROUTE.rework)
    reworked = complete(ROUTE, failed, "rework", "passed")
    assert reworked.failed_gate is None
    assert next_operation(ROUTE, reworked) == ROUTE.operations[ROUTE.index(TC)]
    passed = complete(ROUTE, reworked, TC, "passed")
    assert passed.gates_passed == (TC,)
    assert passed.rework_loops == ((TC, 1),)


def test_one_fail_more_than_max_loops_holds_for_a_supervisor() -> None:
    history: list[str | tuple[str, Outcome]] = [*TO_CLEANING]
    for loop in range(1, ROUTE.rework.max_loops + 1):
        history += [(TC, "failed")]
        assert vehicle(history).loops(TC) == loop
        assert vehicle(history).on_hold is None
        history += ["rework"]
    held = vehicle([*history, (TC, "failed")])
    assert held.on_hold == Hold("rework_exhausted", TC)
    assert held.failed_gate == TC
    assert held.loops(TC) == ROUTE.rework.max_loops
    assert str(held.on_hold) == "rework loops used up at technical-control: a supervisor decides"


def test_a_work_station_may_send_to_rework_and_gets_the_vehicle_back() -> None:
    sent = vehicle([*TO_CLEANING[:2], ("electromechanics", "rework")])
    assert sent.failed_gate == "electromechanics"
    back = complete(ROUTE, sent, "rework", "passed")
    assert next_operation(ROUTE, back).operation == "electromechanics"  # type: ignore[union-attr]
    assert complete(ROUTE, back, "electromechanics", "passed").done == tuple(TO_CLEANING[:3])


@pytest.mark.parametrize(
    ("history", "operation"),
    [(TO_CLEANING[:2], "electromechanics"), (TC_FAILED, "rework"), ([], "intake")],
)
def test_failed_anywhere_but_a_gate_holds_for_a_supervisor(
    history: list[str | tuple[str, Outcome]], operation: str
) -> None:
    before = vehicle(history)
    held = complete(ROUTE, before, operation, "failed")
    assert held.on_hold == Hold("failed", operation)
    assert held.done == before.done
    assert held.failed_gate == before.failed_gate


def test_completing_what_was_not_admitted_is_refused_with_the_reason() -> None:
    with pytest.raises(RouteError, match=r"cannot complete photo: .*skipped gate"):
        complete(ROUTE, vehicle(TO_CLEANING), "photo", "passed")
    with pytest.raises(RouteError, match="rework bay cannot send"):
        complete(ROUTE, vehicle(TC_FAILED), "rework", "rework")
    with pytest.raises(RouteError, match="outcome must be one of passed, failed, rework"):
        complete(ROUTE, vehicle([]), "intake", "ok")  # type: ignore[arg-type]


def test_unknown_operations_and_attributes_are_refused_by_name() -> None:
    with pytest.raises(RouteError, match=r"operation 'painting' is not on route line-1 v1"):
        admit(ROUTE, None, "painting")
    with pytest.raises(RouteError, match=r"declares no attribute 'hybrid' \(attributes: ev, "):
        intake(ROUTE, VIN, ["hybrid"])
    with pytest.raises(VinError, match="expected 17"):
        intake(ROUTE, "1M8GDM9AXKP04278", [])


@pytest.mark.parametrize(
    ("attributes", "skipped"),
    [
        ((), {"bodywork", "battery-qualification"}),
        (("ev",), {"bodywork"}),
        (("ev", "needs_bodywork"), set()),
    ],
)
def test_conditional_operations_are_due_only_when_their_condition_holds(
    attributes: tuple[str, ...], skipped: set[str]
) -> None:
    due = [op.operation for op in due_operations(ROUTE, attributes)]
    assert due == [name for name in ROUTE.names() if name not in skipped]


def test_attributes_may_be_given_with_their_values() -> None:
    given = {"ev": False, "needs_bodywork": True}
    assert due_operations(ROUTE, given) == due_operations(ROUTE, ["needs_bodywork"])
    assert intake(ROUTE, VIN, given).attributes == frozenset({"needs_bodywork"})
    with pytest.raises(RouteError, match="declares no attribute 'hybrid'"):
        due_operations(ROUTE, {"hybrid": False})


def test_not_conditions_are_due_when_the_attribute_does_not_hold() -> None:
    operations = [
        op.model_copy(update={"when": "not ev"}) if op.operation == "photo" else op
        for op in LINE1.route.operations
    ]
    route = edited(LINE1, operations=operations)
    assert "photo" in [op.operation for op in due_operations(route, [])]
    assert "photo" not in [op.operation for op in due_operations(route, ["ev"])]


def test_released_only_after_check_out() -> None:
    assert not released(ROUTE, vehicle(ALL_DONE[:-1]))
    assert released(ROUTE, vehicle(ALL_DONE))
    assert next_operation(ROUTE, vehicle(ALL_DONE)) is None


def test_route_hash_follows_the_route_not_its_descriptions() -> None:
    described = LINE1.model_copy(update={"description": "another text"})
    assert RouteSnapshot.from_line(described).hash == ROUTE.hash
    assert len(ROUTE.hash) == 16 and int(ROUTE.hash, 16) >= 0
    operations = list(LINE1.route.operations)
    operations[1] = operations[1].model_copy(update={"gate": True})
    assert edited(LINE1, operations=operations).hash != ROUTE.hash
    assert ROUTE.attributes == ("ev", "needs_bodywork")


def test_parallel_stations_keep_the_hash_and_are_named_in_refusals() -> None:
    """The hash covers what the rules decide on, not who does an operation: line 1
    doubled has line 1's hash, so vehicles checked in before the doubling go on."""
    doubled = RouteSnapshot.from_line(DOUBLED)
    assert doubled.hash == ROUTE.hash and doubled.label == ROUTE.label
    operations = list(LINE1.route.operations)
    operations[7] = operations[7].model_copy(
        update={"station": None, "stations": ["photo-studio", "studio-3"]}
    )
    assert edited(LINE1, operations=operations).hash == ROUTE.hash
    progress = vehicle(ALL_DONE[:-2])
    refused = admit(doubled, progress, "photo")
    assert isinstance(refused, Violation) and refused.kind == "turning_back"
    assert "photo (step 70, stations photo-studio, photo-studio-2) is upstream" in refused.message


def test_a_route_breaking_the_line_checks_is_refused() -> None:
    operations = [*LINE1.route.operations, LINE1.route.operations[1]]
    with pytest.raises(RouteError, match=r"route.operations\[10\].step: steps must increase"):
        edited(LINE1, operations=operations)


def test_next_write_advances_only_the_counter() -> None:
    progress = vehicle(TO_CLEANING)
    written = progress.next_write()
    assert written.seq == progress.seq + 1
    assert written == Progress(**{**progress.__dict__, "seq": progress.seq + 1})


@pytest.mark.parametrize("module", [station.route, station.progress_check])
def test_rules_module_imports_nothing_from_hal_or_simulators_and_no_io(module: ModuleType) -> None:
    source = Path(str(module.__file__)).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {
        "__future__",
        "collections.abc",
        "dataclasses",
        "hashlib",
        "json",
        "typing",
        "station.config.checks",
        "station.config.loader",
        "station.config.models",
        "station.route",
        "station.vin",
    }
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"open", "print", "input"}
    assert "no turning back" in (station.route.__doc__ or "")
    assert "pure" in (station.progress_check.__doc__ or "").lower()


def test_body_damage_found_at_diagnosis_sends_the_vehicle_to_bodywork_before_cleaning() -> None:
    at_diagnosis = vehicle(["intake"])
    found = find(ROUTE, at_diagnosis, "diagnosis", "needs_bodywork", True)
    assert found.found == (Found("needs_bodywork", True, "diagnosis"),)
    assert found.attributes == frozenset()  # intake's attributes are kept as they were
    after = complete(ROUTE, found, "diagnosis", "passed")
    after = complete(ROUTE, after, "electromechanics", "passed")
    refused = admit(ROUTE, after, "cleaning")
    assert isinstance(refused, Violation)
    assert (refused.kind, refused.expected, refused.found) == (
        "skipped_operation",
        "bodywork",
        "cleaning",
    )
    assert isinstance(admit(ROUTE, after, "bodywork"), Admitted)
    assert [op.operation for op in due_operations(ROUTE, [], found.found)] == [
        name for name in ROUTE.names() if name != "battery-qualification"
    ]


def test_found_again_at_the_same_operation_the_newer_value_wins() -> None:
    at_diagnosis = vehicle(["intake"], ["needs_bodywork"])
    once = find(ROUTE, at_diagnosis, "diagnosis", "needs_bodywork", True)
    twice = find(ROUTE, once, "diagnosis", "needs_bodywork", False)
    assert twice.found == (Found("needs_bodywork", False, "diagnosis"),)
    done = complete(
        ROUTE, complete(ROUTE, twice, "diagnosis", "passed"), "electromechanics", "passed"
    )
    assert next_operation(ROUTE, done) == ROUTE.find("cleaning")


@pytest.mark.parametrize(
    ("history", "operation", "attribute", "message"),
    [
        (["intake"], "diagnosis", "hybrid", "declares no attribute 'hybrid'"),
        (["intake"], "cleaning", "needs_bodywork", "cannot find needs_bodywork at cleaning: "),
        (
            [*TO_CLEANING, (TC, "failed")],
            "rework",
            "needs_bodywork",
            "the rework bay finds no attribute",
        ),
    ],
)
def test_an_attribute_is_found_only_where_the_vehicle_is_admitted_and_declared(
    history: list[str | tuple[str, Outcome]], operation: str, attribute: str, message: str
) -> None:
    with pytest.raises(RouteError, match=message):
        find(ROUTE, vehicle(history), operation, attribute, True)
