"""The runtime without devices: PackML states, prompts, roles, journal, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from station.config.loader import ConfigError, load_station
from station.devices import DeviceSet
from station.fsm import State
from station.journal import Journal
from station.roles import NotAuthorized
from station.runtime import Refused, Station

CONFIG = Path(__file__).parent.parent / "stations" / "checklist-only.yaml"


async def wait_until(station: Station, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    changed = asyncio.Event()
    unsubscribe = station.on_change(changed.set)
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()


async def wait_state(station: Station, state: State, timeout: float = 5.0) -> None:
    await wait_until(station, lambda: station.state is state, timeout)


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


async def test_an_event_kind_that_does_not_exist_is_not_journaled(station: Station) -> None:
    await station.prompts.wait_for("checklist", timeout=5)  # quiet: waiting on the operator
    before = station.journal.last()
    with pytest.raises(ValueError, match="'identifed' is not a valid EventKind"):
        await station.record("identifed", vin="VF1RFB00X66123456")
    assert station.journal.last() == before


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


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the checklist station file with `old` replaced by `new`, its line file
    path made absolute."""
    line = (CONFIG.parent / "../../configs/lines/line1.yaml").resolve()
    source = CONFIG.read_text().replace("../../configs/lines/line1.yaml", str(line))
    path = tmp_path / name
    path.write_text(source.replace(old, new))
    return path


async def test_config_swap_waits_for_the_vehicle_to_leave(station: Station, tmp_path: Path) -> None:
    new = _variant(tmp_path, "new.yaml", "road test done]", "road test done, paperwork filed]")
    await station.prompts.wait_for("checklist", timeout=5)  # a vehicle is in the station
    old_hash = station.config.content_hash
    assert await station.request_config(new, "sue", "supervisor") == "pending"
    assert station.config.content_hash == old_hash
    for _ in range(2):
        await station.prompts.wait_for("checklist", timeout=5)
        await station.answer("checklist", "done", "alice", "operator")
    prompt = await station.prompts.wait_for("checklist", timeout=5)
    assert station.config.content_hash != old_hash
    swapped = station.journal.last("config_swapped")
    assert swapped is not None and swapped.data == {
        "old": old_hash,
        "new": station.config.content_hash,
    }
    assert prompt.text == "scan done" and len(station.config.model.cycle[0].items) == 3  # type: ignore[union-attr]


async def test_a_config_that_fails_validation_never_replaces_the_running_one(
    station: Station, tmp_path: Path
) -> None:
    bad = _variant(
        tmp_path,
        "bad.yaml",
        "step: operator_checklist",
        "step: operator_checklist\n    timeout_s: -1",
    )
    running = station.config.content_hash
    with pytest.raises(ConfigError):
        await station.request_config(bad, "sue", "supervisor")
    assert station.config.content_hash == running
    rejected = station.journal.last("config_rejected")
    assert rejected is not None and rejected.data["running"] == running
    assert any("bad.yaml" in error and "timeout_s" in error for error in rejected.data["errors"])
    assert "config" in {a.key for a in station.alarms.active()}


async def test_low_disk_raises_an_alarm_and_accepts_no_new_vehicle(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.sqlite3", "diagnosis", max_bytes=256 * 1024)
    st = Station(
        load_station(CONFIG), journal, DeviceSet(), autostart=True, disk_low_bytes=1024 * 1024
    )
    await st.start()
    try:
        await wait_state(st, State.EXECUTE)
        await wait_until(st, lambda: "disk" in {a.key for a in st.alarms.active()})
        assert st.journal.last("cycle_started") is None
        assert st.prompts.current is None
    finally:
        await st.stop()
        await journal.close()
