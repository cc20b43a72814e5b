"""The journal against a real SQLite file: order, chain, refusals, crash durability."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import shutil
import signal
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.journal import (
    GENESIS_HASH,
    Event,
    Journal,
    JournalError,
    JournalFull,
    JournalNotFound,
    JournalReader,
    JournalStationMismatch,
    canonical_json,
    read_boot_id,
)

STATION = "photo-studio"
CONFIG_HASH = "c0ffee" * 4
VIN_A = "VF1RFB00X66123456"
VIN_B = "WVWZZZ1KZAW000001"


@pytest.fixture(autouse=True)
def no_writer_thread_left() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("journal-writer")]
    assert not left, f"test left journal writer thread(s) running: {left}"


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture
async def journal(journal_file: Path) -> AsyncIterator[Journal]:
    journal = Journal.open(journal_file, STATION)
    journal.config_hash = CONFIG_HASH
    yield journal
    await journal.close()


async def fill(journal: Journal, count: int) -> list[Event]:
    """`count` step events, alternating between two vehicles."""
    return [
        await journal.append(
            "step_done",
            vin=(VIN_A, VIN_B)[i % 2],
            step=f"step-{i}",
            result="passed",
            operator="op-1",
            data={"i": i},
        )
        for i in range(count)
    ]


def raw_sql(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    """Run statements on the file with a plain sqlite3 connection (the last one with params)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements[:-1]:
            conn.execute(statement)
        conn.execute(statements[-1], params)
    finally:
        conn.close()


def insert_forged(path: Path, event: Event) -> None:
    """Insert `event` with a hash that matches its fields, as a forger would."""
    sealed = dataclasses.replace(event, hash=event.expected_hash())
    columns = [f.name for f in dataclasses.fields(Event)]
    values = tuple(
        canonical_json(sealed.data) if name == "data" else getattr(sealed, name) for name in columns
    )
    sql = f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    raw_sql(path, sql, params=values)


def problems_of(path: Path) -> list[str]:
    with JournalReader.open(path) as reader:
        return reader.verify().problems


# --- append and read back -------------------------------------------------------------


async def test_append_returns_the_committed_event(journal: Journal, journal_file: Path) -> None:
    event = await journal.append(
        "identified",
        vin=VIN_A,
        step="identify",
        result="passed",
        operator="op-7",
        data={"reader": "barcode", "angles": (0, 90), "note": "Citroën"},
    )
    assert (event.seq, event.station, event.kind, event.vin) == (1, STATION, "identified", VIN_A)
    assert (event.step, event.result, event.operator) == ("identify", "passed", "op-7")
    assert event.config_hash == CONFIG_HASH
    assert event.data == {"reader": "barcode", "angles": [0, 90], "note": "Citroën"}
    assert event.prev_hash == GENESIS_HASH
    assert event.hash == event.expected_hash()
    # Committed when append returned: another connection sees the row at once.
    conn = sqlite3.connect(journal_file)
    try:
        assert conn.execute("SELECT seq, hash FROM events").fetchall() == [(1, event.hash)]
    finally:
        conn.close()
    assert journal.events() == [event]
    assert journal.last() == event


async def test_queries_filter_by_vehicle_kind_and_seq(journal: Journal) -> None:
    events = await fill(journal, 6)
    released = await journal.append("released", vin=VIN_A)
    assert journal.events(vin=VIN_A) == [*events[0::2], released]
    assert journal.events(after_seq=4) == [*events[4:], released]
    assert journal.events(kinds={"released"}) == [released]
    assert journal.events(kinds=[]) == []
    assert journal.events(limit=2) == events[:2]
    assert journal.events(vin=VIN_B, after_seq=2, limit=1) == [events[3]]
    assert journal.last(vin=VIN_B) == events[5]
    assert journal.last(kind="step_done") == events[5]
    assert journal.last(kind="step_done", vin=VIN_A) == events[4]
    assert journal.last(vin="NOSUCHVIN") is None
    with pytest.raises(TypeError, match="collection of event kinds, not the str 'released'"):
        journal.events(kinds="released")


async def test_times_and_boot_id(journal: Journal) -> None:
    events = await fill(journal, 5)
    boot_id = read_boot_id()
    assert boot_id == "" or len(boot_id) == 36  # "" only where the kernel has no boot_id
    assert {e.boot_id for e in events} == {boot_id}
    monotonic = [e.mono_ns for e in events]
    assert monotonic == sorted(monotonic)
    for event in events:
        assert datetime.fromisoformat(event.wall).utcoffset() == UTC.utcoffset(None)


async def test_exported_json_lets_anyone_recompute_the_hash(journal: Journal) -> None:
    await journal.append("first")
    event = await journal.append("photo_session", vin=VIN_A, data={"shots": [0.0, 45.5], "ü": 1})
    exported = json.loads(event.to_json())
    stored = exported.pop("hash")
    text = json.dumps(exported, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == stored == event.hash
    assert exported["prev_hash"] == journal.events()[0].hash


# --- order and concurrency ------------------------------------------------------------


async def test_appends_commit_in_call_order(journal: Journal) -> None:
    tasks = [
        asyncio.create_task(journal.append("tick", data={"call": i}), name=f"append-{i}")
        for i in range(200)
    ]
    events = await asyncio.gather(*tasks)
    assert [e.seq for e in events] == list(range(1, 201))
    assert [e.data["call"] for e in events] == list(range(200))
    assert journal.events() == events
    assert journal.verify().ok


async def test_concurrent_appenders_get_a_gapless_sequence(journal: Journal) -> None:
    async def appender(task: int) -> list[Event]:
        return [await journal.append("tick", data={"task": task, "i": i}) for i in range(25)]

    per_task = await asyncio.gather(
        *(asyncio.create_task(appender(t), name=f"appender-{t}") for t in range(8))
    )
    seqs = sorted(e.seq for events in per_task for e in events)
    assert seqs == list(range(1, 201))
    for task, events in enumerate(per_task):
        assert [e.data for e in events] == [{"task": task, "i": i} for i in range(25)]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
    report = journal.verify()
    assert (report.ok, report.count, report.last_seq) == (True, 200, 200)


async def test_writes_run_in_the_named_writer_thread_until_close(journal_file: Path) -> None:
    journal = Journal.open(journal_file, STATION)
    names = [t.name for t in threading.enumerate()]
    assert f"journal-writer[{STATION}]" in names
    await journal.append("tick")
    await journal.close()
    await journal.close()
    assert f"journal-writer[{STATION}]" not in [t.name for t in threading.enumerate()]
    with pytest.raises(JournalError, match="event 'late' refused: the journal is closed"):
        await journal.append("late")


async def test_cancelled_caller_does_not_withdraw_its_event(journal: Journal) -> None:
    waiter = asyncio.create_task(journal.append("set_output", data={"coil": 3}), name="waiter")
    await asyncio.sleep(0)  # one loop turn: the task runs up to its await, the event is queued
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    after = await journal.append("after")
    assert [(e.seq, e.kind) for e in journal.events()] == [(1, "set_output"), (2, "after")]
    assert after.prev_hash == journal.events()[0].hash


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_writer_thread_that_dies_fails_its_append_and_refuses_the_next(
    journal_file: Path,
) -> None:
    journal = Journal.open(journal_file, STATION)
    await journal.append("before")

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the writer")

    journal._seal = broken  # type: ignore[assignment]
    with pytest.raises(JournalError, match="the writer thread stopped: RuntimeError"):
        await journal.append("lost")
    with pytest.raises(JournalError, match="'later' refused: the writer thread stopped"):
        await journal.append("later")
    await journal.close()
    with JournalReader.open(journal_file) as reader:
        assert [e.kind for e in reader.events()] == ["before"]


# --- refusals -------------------------------------------------------------------------


async def test_triggers_refuse_update_and_delete(journal: Journal, journal_file: Path) -> None:
    await fill(journal, 2)
    with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
        raw_sql(journal_file, "UPDATE events SET result = 'failed' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
        raw_sql(journal_file, "DELETE FROM events WHERE seq = 2")
    assert [e.result for e in journal.events()] == ["passed", "passed"]


async def test_bad_input_is_refused_and_consumes_no_seq(journal: Journal) -> None:
    with pytest.raises(ValueError, match="kind must be a non-empty str"):
        await journal.append("")
    with pytest.raises(TypeError, match="event 'x': vin must be a str or None"):
        await journal.append("x", vin=123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="event 'x': step is not valid text"):
        await journal.append("x", step="\ud800")
    with pytest.raises(ValueError, match="event 'x': data is not JSON: Out of range float"):
        await journal.append("x", data={"torque": float("nan")})
    with pytest.raises(TypeError, match=r"event 'x': data is not JSON: .*not JSON serializable"):
        await journal.append("x", data={"when": datetime.now(UTC)})
    with pytest.raises(TypeError, match="event 'x': data must be a mapping"):
        await journal.append("x", data=[1, 2])  # type: ignore[arg-type]
    journal.config_hash = None  # type: ignore[assignment]
    with pytest.raises(TypeError, match="event 'x': config_hash must be a str \\(got None\\)"):
        await journal.append("x")
    journal.config_hash = CONFIG_HASH
    assert (await journal.append("ok")).seq == 1


async def test_open_refuses_bad_places(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=r"directory .*missing does not exist"):
        Journal.open(tmp_path / "missing" / "journal.sqlite3", STATION)
    with pytest.raises(ValueError, match="station must be a non-empty str"):
        Journal.open(tmp_path / "journal.sqlite3", "")
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(JournalError, match=r"garbage\.sqlite3: not a station journal"):
        Journal.open(garbage, STATION)
    with pytest.raises(JournalError, match=r"garbage\.sqlite3: not a station journal"):
        JournalReader.open(garbage)
    with pytest.raises(JournalNotFound, match=r"no journal at .*nothing\.sqlite3"):
        JournalReader.open(tmp_path / "nothing.sqlite3")


async def test_second_writer_is_refused(journal: Journal, journal_file: Path) -> None:
    with pytest.raises(JournalError, match="already open for writing"):
        Journal.open(journal_file, STATION)
    assert (await journal.append("still-mine")).seq == 1


async def test_journal_copied_from_another_station_is_refused(
    journal: Journal, journal_file: Path, tmp_path: Path
) -> None:
    await fill(journal, 3)
    await journal.close()
    elsewhere = tmp_path / "other-pc"
    elsewhere.mkdir()
    shutil.copy(journal_file, elsewhere / journal_file.name)
    with pytest.raises(JournalStationMismatch, match="belongs to station 'photo-studio', not 'qc'"):
        Journal.open(elsewhere / journal_file.name, "qc")
    with JournalReader.open(elsewhere / journal_file.name) as reader:
        assert reader.station == STATION
        assert reader.verify().ok


# --- reopening and crashes ------------------------------------------------------------


async def test_reopening_continues_sequence_and_chain(journal_file: Path) -> None:
    async with Journal.open(journal_file, STATION) as journal:
        before = await fill(journal, 3)
    async with Journal.open(journal_file, STATION) as journal:
        after = await journal.append("restarted")
        report = journal.verify()
    assert after.seq == 4
    assert after.prev_hash == before[-1].hash
    assert (report.ok, report.count) == (True, 4)


async def test_disk_full_refuses_the_event_and_keeps_the_journal(journal_file: Path) -> None:
    async with Journal.open(journal_file, STATION, max_bytes=64 * 1024) as journal:
        written = 0
        with pytest.raises(JournalFull) as full:
            for i in range(10_000):
                await journal.append("tick", vin=VIN_A, data={"i": i, "pad": "x" * 200})
                written += 1
        assert "is full" in str(full.value)
        assert str(journal_file) in str(full.value)
        assert "event 'tick' was not written" in str(full.value)
        assert 0 < written < 10_000
        with pytest.raises(JournalFull):
            await journal.append("tick", vin=VIN_A, data={"i": -1, "pad": "x" * 200})
        assert journal.free_bytes() < 4096, "at its cap the journal says it has no room"
        report = journal.verify()
        assert (report.ok, report.count) == (True, written)
    async with Journal.open(journal_file, STATION) as journal:
        after = await journal.append("space freed")
        assert after.seq == written + 1
        assert journal.free_bytes() > 0
        assert journal.verify().ok


# A child that appends from four tasks and prints each seq once append has returned.
CHILD = """
import asyncio, sys
from pathlib import Path
from station.journal import Journal

async def main():
    journal = Journal.open(Path(sys.argv[1]), "crash-test")
    async def appender(task):
        i = 0
        while True:
            event = await journal.append("tick", vin="VF1RFB00X66123456", data={"t": task, "i": i})
            print(event.seq, flush=True)
            i += 1
    await asyncio.gather(*(asyncio.create_task(appender(t), name=f"a{t}") for t in range(4)))

asyncio.run(main())
"""


async def read_seq(stream: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(stream.readline(), 30)
    assert line, "the appending child ended before it was killed (see its stderr)"
    return int(line)


async def test_kill_9_loses_no_acknowledged_event(journal_file: Path) -> None:
    acknowledged: set[int] = set()
    last_seq = 0
    for round_, kill_after in enumerate((15, 40, 70)):
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, str(journal_file), stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        try:
            printed = [await read_seq(child.stdout)]
            assert printed[0] > last_seq, f"round {round_} did not continue the sequence"
            while len(printed) < kill_after:
                printed.append(await read_seq(child.stdout))
        finally:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        printed += [int(line) for line in (await child.stdout.read()).split()]
        assert child.returncode == -signal.SIGKILL
        acknowledged.update(printed)
        with JournalReader.open(journal_file) as reader:
            report = reader.verify()
            present = {e.seq for e in reader.events()}
        assert report.ok, report.problems
        assert acknowledged <= present
        assert present == set(range(1, report.count + 1))
        last_seq = report.last_seq
    async with Journal.open(journal_file, "crash-test") as journal:
        assert (await journal.append("recovered")).seq == last_seq + 1


# --- verify ---------------------------------------------------------------------------


async def test_verify_detects_an_edited_row(journal: Journal, journal_file: Path) -> None:
    await fill(journal, 5)
    await journal.close()
    raw_sql(
        journal_file,
        "DROP TRIGGER events_no_update",
        "UPDATE events SET result = 'failed' WHERE seq = 3",
    )
    problems = problems_of(journal_file)
    assert len(problems) == 1
    assert problems[0].startswith("seq 3: hash mismatch")


async def test_verify_detects_an_edited_and_rehashed_row(
    journal: Journal, journal_file: Path
) -> None:
    events = await fill(journal, 5)
    await journal.close()
    forged = dataclasses.replace(events[2], result="failed")
    raw_sql(journal_file, "DROP TRIGGER events_no_update", "DROP TRIGGER events_no_delete")
    raw_sql(journal_file, "DELETE FROM events WHERE seq = 3")
    insert_forged(journal_file, forged)
    problems = problems_of(journal_file)
    assert len(problems) == 1
    assert problems[0].startswith("seq 4: broken chain: prev_hash")
    assert "is not the hash of seq 3" in problems[0]


async def test_verify_detects_a_deleted_row(journal: Journal, journal_file: Path) -> None:
    await fill(journal, 5)
    await journal.close()
    raw_sql(journal_file, "DROP TRIGGER events_no_delete", "DELETE FROM events WHERE seq = 2")
    problems = problems_of(journal_file)
    assert problems[0] == "seq 3: gap in seq: expected seq 2"
    assert problems[1].startswith("seq 3: broken chain")
    assert len(problems) == 2


async def test_verify_detects_a_gap_in_an_intact_chain(
    journal: Journal, journal_file: Path
) -> None:
    events = await fill(journal, 3)
    await journal.close()
    insert_forged(journal_file, dataclasses.replace(events[-1], seq=5, prev_hash=events[-1].hash))
    assert problems_of(journal_file) == ["seq 5: gap in seq: expected seq 4"]


async def test_verify_detects_an_event_of_another_station(
    journal: Journal, journal_file: Path
) -> None:
    events = await fill(journal, 2)
    await journal.close()
    foreign = dataclasses.replace(events[-1], seq=3, station="qc", prev_hash=events[-1].hash)
    insert_forged(journal_file, foreign)
    assert problems_of(journal_file) == ["seq 3: other station: event of 'qc' in 'photo-studio'"]


async def test_reader_sees_the_running_journal(journal: Journal, journal_file: Path) -> None:
    with JournalReader.open(journal_file) as reader:
        assert reader.last() is None
        events = await fill(journal, 3)
        assert reader.events() == events
        assert reader.verify().ok
