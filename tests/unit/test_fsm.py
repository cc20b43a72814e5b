"""The station state machine against PackML: random command sequences checked
against the transition table written out here independently of
`station.fsm`, serialization of concurrent commands, unit-mode rules, and what
a failing or cancelled `on_change` callback leaves behind."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import station.fsm
from station.fsm import (
    CallbackFailed,
    Command,
    IllegalCommand,
    IllegalModeChange,
    State,
    StationMachine,
    UnitMode,
)

SC = "sc"

PACKML: dict[str, dict[str, str]] = {
    "Stopped": {"reset": "Resetting", "abort": "Aborting"},
    "Resetting": {SC: "Idle", "stop": "Stopping", "abort": "Aborting"},
    "Idle": {"start": "Starting", "stop": "Stopping", "abort": "Aborting"},
    "Starting": {SC: "Execute", "stop": "Stopping", "abort": "Aborting"},
    "Execute": {
        SC: "Completing",
        "hold": "Holding",
        "suspend": "Suspending",
        "stop": "Stopping",
        "abort": "Aborting",
    },
    "Completing": {SC: "Complete", "stop": "Stopping", "abort": "Aborting"},
    "Complete": {"reset": "Resetting", "stop": "Stopping", "abort": "Aborting"},
    "Holding": {SC: "Held", "stop": "Stopping", "abort": "Aborting"},
    "Held": {"unhold": "Unholding", "stop": "Stopping", "abort": "Aborting"},
    "Unholding": {SC: "Execute", "stop": "Stopping", "abort": "Aborting"},
    "Suspending": {SC: "Suspended", "stop": "Stopping", "abort": "Aborting"},
    "Suspended": {"unsuspend": "Unsuspending", "stop": "Stopping", "abort": "Aborting"},
    "Unsuspending": {SC: "Execute", "stop": "Stopping", "abort": "Aborting"},
    "Stopping": {SC: "Stopped", "abort": "Aborting"},
    "Aborting": {SC: "Aborted"},
    "Aborted": {"clear": "Clearing"},
    "Clearing": {SC: "Stopped", "abort": "Aborting"},
}
"""PackML (ISA-TR88.00.02) base model: state -> {command or SC: next state}."""

MODE_CHANGE_STATES = {"Stopped", "Idle", "Aborted"}

Change = tuple[State, State, str, str]


def recorder(machine: StationMachine) -> list[Change]:
    changes: list[Change] = []

    async def record(old: State, new: State, trigger: str, reason: str) -> None:
        changes.append((old, new, trigger, reason))

    machine.on_change(record)
    return changes


async def apply(machine: StationMachine, step: str, reason: str) -> State:
    if step == SC:
        return await machine.state_complete(reason)
    return await machine.command(Command(step), reason)


def test_the_table_here_and_the_module_name_the_same_states_and_commands() -> None:
    assert set(PACKML) == {state.value for state in State}
    commands = {step for row in PACKML.values() for step in row} - {SC}
    assert commands == {command.value for command in Command}


@settings(max_examples=1000, deadline=None)
@given(
    initial=st.sampled_from(sorted(PACKML)),
    mode=st.sampled_from([UnitMode.PRODUCTION, UnitMode.MANUAL]),
    steps=st.lists(st.sampled_from([*(c.value for c in Command), SC]), max_size=30),
)
async def test_random_command_sequences_follow_the_packml_table(
    initial: str, mode: UnitMode, steps: list[str]
) -> None:
    machine = StationMachine(initial=State(initial), mode=mode)
    changes = recorder(machine)
    expected: list[Change] = []
    for index, step in enumerate(steps):
        before = machine.state
        row = PACKML[before]
        accepted = set(row) - {SC}
        assert {c.value for c in machine.allowed()} == accepted
        assert machine.is_acting(before) is (SC in row)
        reason = f"step {index}"
        if step in row:
            after = await apply(machine, step, reason)
            assert after == machine.state == row[step]
            trigger = "state_complete" if step == SC else step
            expected.append((before, State(row[step]), trigger, reason))
        else:
            with pytest.raises(IllegalCommand) as refused:
                await apply(machine, step, reason)
            assert machine.state == before
            message = str(refused.value)
            assert message.startswith(f"{'state_complete' if step == SC else step} refused")
            assert f"in state {before}" in message
            listed = message.split("accepts: ")[1]
            assert set(listed.split(", ")) == accepted or (not accepted and listed == "no command")
    assert changes == expected


async def test_an_illegal_command_says_why_and_changes_nothing() -> None:
    machine = StationMachine(initial=State.EXECUTE)
    changes = recorder(machine)
    with pytest.raises(IllegalCommand) as refused:
        await machine.command(Command.CLEAR, "operator")
    assert str(refused.value) == (
        "clear refused in state Execute; Execute accepts: abort, hold, stop, suspend"
    )
    assert (refused.value.command, refused.value.state) == (Command.CLEAR, State.EXECUTE)
    assert machine.state is State.EXECUTE
    assert changes == []


async def test_state_complete_is_refused_in_a_wait_state() -> None:
    machine = StationMachine(initial=State.HELD)
    with pytest.raises(IllegalCommand, match=r"state_complete refused in state Held \(a wait"):
        await machine.state_complete("cycle done")
    assert machine.state is State.HELD


async def test_a_late_state_complete_does_not_complete_the_state_that_replaced_it() -> None:
    machine = StationMachine(initial=State.EXECUTE)
    await machine.command(Command.HOLD, "reader disagreement")
    with pytest.raises(IllegalCommand, match=r"in state Holding \(meant for Execute\)"):
        await machine.state_complete("cycle done", of=State.EXECUTE)
    assert machine.state is State.HOLDING
    assert await machine.state_complete("held", of=State.HOLDING) is State.HELD


async def test_an_unknown_command_is_a_clear_error() -> None:
    machine = StationMachine()
    with pytest.raises(ValueError, match=r"unknown command 'jump'; commands are: reset, start"):
        await machine.command("jump")  # type: ignore[arg-type]
    assert machine.state is State.STOPPED


async def test_the_same_command_twice_at_once_is_taken_once() -> None:
    machine = StationMachine(initial=State.IDLE)
    changes = recorder(machine)
    results = await asyncio.gather(
        machine.command(Command.START, "plant"),
        machine.command(Command.START, "console"),
        return_exceptions=True,
    )
    assert results[0] is State.STARTING
    assert isinstance(results[1], IllegalCommand)
    assert changes == [(State.IDLE, State.STARTING, "start", "plant")]


async def test_a_command_waits_until_the_previous_change_is_notified() -> None:
    machine = StationMachine(initial=State.EXECUTE)
    log: list[tuple[str, str, State]] = []
    hold_notifying = asyncio.Event()
    release_hold = asyncio.Event()
    stop_issued = asyncio.Event()

    async def slow_journal(old: State, new: State, trigger: str, reason: str) -> None:
        log.append(("begin", trigger, machine.state))
        if trigger == "hold":
            hold_notifying.set()
            await release_hold.wait()
        log.append(("end", trigger, machine.state))

    async def issue_stop() -> State:
        stop_issued.set()
        return await machine.command(Command.STOP, "operator")

    machine.on_change(slow_journal)
    hold = asyncio.create_task(machine.command(Command.HOLD, "route violation"))
    await hold_notifying.wait()
    stop = asyncio.create_task(issue_stop())
    await stop_issued.wait()
    # The stop task has run up to its first suspension, the lock: it has not moved the state.
    assert machine.state is State.HOLDING
    assert not stop.done()
    release_hold.set()
    assert await hold is State.HOLDING
    assert await stop is State.STOPPING
    assert log == [
        ("begin", "hold", State.HOLDING),
        ("end", "hold", State.HOLDING),
        ("begin", "stop", State.STOPPING),
        ("end", "stop", State.STOPPING),
    ]


@pytest.mark.parametrize("state", list(State))
async def test_the_unit_mode_changes_only_in_stopped_idle_and_aborted(state: State) -> None:
    machine = StationMachine(initial=state)
    changes = recorder(machine)
    if state.value in MODE_CHANGE_STATES:
        await machine.set_mode(UnitMode.MANUAL, "supervisor")
        assert machine.mode is UnitMode.MANUAL
        assert changes == [(state, state, "set_mode", "supervisor")]
    else:
        with pytest.raises(IllegalModeChange) as refused:
            await machine.set_mode(UnitMode.MANUAL, "supervisor")
        assert str(refused.value) == (
            f"unit mode change to manual refused in state {state}; "
            "the mode may change only in Stopped, Idle, Aborted"
        )
        assert machine.mode is UnitMode.PRODUCTION
        assert changes == []
    assert machine.state is state


async def test_asking_for_the_current_mode_changes_nothing_anywhere() -> None:
    machine = StationMachine(initial=State.EXECUTE)
    changes = recorder(machine)
    await machine.set_mode(UnitMode.PRODUCTION)
    assert (machine.mode, changes) == (UnitMode.PRODUCTION, [])


async def test_maintenance_mode_refuses_start_so_no_vehicle_is_accepted() -> None:
    machine = StationMachine(initial=State.IDLE)
    await machine.set_mode(UnitMode.MAINTENANCE, "fitter")
    assert machine.allowed() == {Command.STOP, Command.ABORT}
    with pytest.raises(IllegalCommand) as refused:
        await machine.command(Command.START)
    assert str(refused.value) == (
        "start refused in state Idle (maintenance mode); Idle accepts: abort, stop"
    )
    assert machine.state is State.IDLE
    await machine.set_mode(UnitMode.PRODUCTION, "fitter")
    assert await machine.command(Command.START) is State.STARTING


def test_a_state_maintenance_cannot_reach_is_not_restored_in_maintenance() -> None:
    with pytest.raises(ValueError, match="Execute cannot be restored in maintenance mode"):
        StationMachine(initial=State.EXECUTE, mode=UnitMode.MAINTENANCE)
    restored = StationMachine(initial=State.ABORTED, mode=UnitMode.MAINTENANCE)
    assert (restored.state, restored.mode) == (State.ABORTED, UnitMode.MAINTENANCE)


async def test_a_failing_callback_leaves_the_change_whole_and_stops_later_callbacks() -> None:
    machine = StationMachine(initial=State.IDLE)
    failures = [OSError("disk full")]

    async def journal(old: State, new: State, trigger: str, reason: str) -> None:
        if failures:
            raise failures.pop()

    machine.on_change(journal)
    published = recorder(machine)
    with pytest.raises(CallbackFailed) as failed:
        await machine.command(Command.START, "plant")
    assert isinstance(failed.value.__cause__, OSError)
    assert "failed after Idle -> Starting (start); the station is in Starting" in str(failed.value)
    assert machine.state is State.STARTING
    assert published == []
    assert await machine.state_complete("started") is State.EXECUTE
    assert published == [(State.STARTING, State.EXECUTE, "state_complete", "started")]


async def test_a_command_cancelled_in_a_callback_propagates_and_the_change_stands() -> None:
    machine = StationMachine(initial=State.EXECUTE)
    notifying = asyncio.Event()
    never = asyncio.Event()

    async def stuck_once(old: State, new: State, trigger: str, reason: str) -> None:
        if trigger == "hold":
            notifying.set()
            await never.wait()

    machine.on_change(stuck_once)
    hold = asyncio.create_task(machine.command(Command.HOLD))
    await notifying.wait()
    hold.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hold
    assert machine.state is State.HOLDING
    assert await machine.state_complete() is State.HELD


async def test_a_callback_that_issues_a_command_is_refused_not_deadlocked() -> None:
    machine = StationMachine(initial=State.EXECUTE)

    async def meddling(old: State, new: State, trigger: str, reason: str) -> None:
        await machine.command(Command.STOP)

    machine.on_change(meddling)
    with pytest.raises(CallbackFailed) as failed:
        await machine.command(Command.HOLD)
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert "inside an on_change callback" in str(failed.value.__cause__)
    assert machine.state is State.HOLDING


def test_the_diagram_in_the_docstring_names_every_state_and_command() -> None:
    doc = station.fsm.__doc__ or ""
    missing = [name for name in [*State, *Command] if name.value not in doc]
    assert missing == []
