"""The runtime without devices: PackML states, prompts, roles, journal, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from station.config.loader import load_station
from station.devices import DeviceSet
from station.fsm import State
from station.journal import Journal
from station.roles import NotAuthorized
from station.runtime import Refused, Station

CONFIG = Path(__file__).parent / "stations" / "checklist-only.yaml"


async def wait_state(station: Station, state: State, timeout: float = 5.0) -> None:
    changed = asyncio.Event()
    station.on_change(changed.set)
    async with asyncio.timeout(timeout):
        while station.state is not state:
            changed.clear()
            await changed.wait()


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    journal = Journal.open(tmp_path / "journal.sqlite3", "diagnosis")
    st = Station(load_station(CONFIG), journal, DeviceSet(), autostart=True)
    await st.start()
    yield st
    await st.stop()
    await journal.close()


async def test_autostart_reaches_execute_and_asks_the_checklist(station: Station) -> None:
    await wait_state(station, State.EXECUTE)
    prompt = await station.prompts.wait_for("checklist", timeout=5)
    assert prompt.text == "scan done"


async def test_checklist_answers_complete_a_cycle_journaled_with_the_user(station: Station) -> None:
    for _ in range(2):
        await station.prompts.wait_for("checklist", timeout=5)
        await station.answer("checklist", "done", "alice", "operator")
    await station.prompts.wait_for("checklist", timeout=5)  # the next cycle asks again
    events = station.journal.events()
    items = [e for e in events if e.kind == "checklist_item"]
    assert [(e.operator, e.data["text"]) for e in items] == [
        ("alice", "scan done"),
        ("alice", "road test done"),
    ]
    assert [e.result for e in events if e.kind == "cycle_ended"] == ["passed"]
    assert station.counts["cycles"] == 1


async def test_a_role_without_the_right_is_refused_and_audited(station: Station) -> None:
    await station.prompts.wait_for("checklist", timeout=5)
    with pytest.raises(NotAuthorized):
        await station.answer("verdict", "pass", "bob", "operator")
    refused = station.journal.last("refused")
    assert refused is not None and refused.operator == "bob" and refused.result == "verdict"


async def test_illegal_command_is_refused_and_the_state_kept(station: Station) -> None:
    await wait_state(station, State.EXECUTE)
    with pytest.raises(Refused, match="clear"):
        await station.command("clear", "alice", "operator")
    assert station.state is State.EXECUTE


async def test_hold_then_unhold_resumes_the_checklist_where_it_was(station: Station) -> None:
    await station.prompts.wait_for("checklist", timeout=5)
    await station.answer("checklist", "done", "alice", "operator")
    prompt = await station.prompts.wait_for("checklist", timeout=5)
    assert prompt.item == 1
    await station.command("hold", "alice", "operator", "coffee")
    await wait_state(station, State.HELD)
    assert station.prompts.current is None
    await station.command("unhold", "alice", "operator")
    prompt = await station.prompts.wait_for("checklist", timeout=5)
    assert prompt.item == 1


async def test_restart_restores_the_visit_from_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal.open(path, "diagnosis")
    first = Station(load_station(CONFIG), journal, DeviceSet(), autostart=True)
    await first.start()
    await first.prompts.wait_for("checklist", timeout=5)
    await first.answer("checklist", "done", "alice", "operator")
    await first.prompts.wait_for("checklist", timeout=5)
    await first.stop()
    await journal.close()

    journal = Journal.open(path, "diagnosis")
    second = Station(load_station(CONFIG), journal, DeviceSet(), autostart=True)
    await second.start()
    try:
        prompt = await second.prompts.wait_for("checklist", timeout=5)
        assert prompt.item == 1, "the confirmed item is not asked again"
        assert journal.verify().ok
    finally:
        await second.stop()
        await journal.close()
