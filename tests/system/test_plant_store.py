"""The plant database (station.plant.store), each test against both SQLite and a real
PostgreSQL (`plant_db`): every event stored once, the chain checked as it is stored,
holes and breaks flagged with plant alarms, the schema versioned."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from plant_rig import chained, event, forged, incoming

from station.plant.migrations import MIGRATIONS
from station.plant.store import Store, StoreError, open_store
from station.plant.verify import check_station


@pytest.fixture
def store(plant_db: str) -> Iterator[Store]:
    opened = open_store(plant_db)
    yield opened
    opened.close()


def test_each_event_is_stored_once_as_the_station_wrote_it(store: Store) -> None:
    events = chained("photo-studio", 7)
    first = store.ingest(incoming(events[:5]))
    again = store.ingest(incoming(events[2:]))
    assert (first.stored, first.duplicates, again.stored, again.duplicates) == (5, 0, 2, 3)
    (head,) = store.heads()
    assert (head.station, head.line, head.head_seq, head.head_hash) == (
        "photo-studio",
        "line-1",
        7,
        events[-1].hash,
    )
    assert head.chain == "verified"
    stored = store.events("photo-studio")
    assert [s.event for s in stored] == events, "same fields, same hashes"
    assert {s.status for s in stored} == {"ok"}
    assert store.alarms() == []
    assert check_station(store, head).ok


def test_stations_appear_with_their_first_event_and_stay_apart(store: Store) -> None:
    a, b = chained("reception", 3), chained("exit", 2)
    done = store.ingest(incoming([a[0], b[0], a[1], b[1], a[2]]))
    assert {s: h.head_seq for s, h in done.heads.items()} == {"reception": 3, "exit": 2}
    assert [h.station for h in store.heads()] == ["exit", "reception"]


def test_a_hole_is_kept_flagged_and_closed_when_the_missing_events_come(store: Store) -> None:
    events = chained("battery", 6)
    done = store.ingest(incoming([events[0], events[3], events[4]]))
    assert done.heads["battery"].head_seq == 1, "acknowledged: the contiguous part only"
    assert done.heads["battery"].chain == "seq 2 missing"
    (gap,) = done.alarms
    assert (gap.kind, gap.station, gap.seq) == ("gap", "battery", 2)
    assert "seq 2..3 missing" in gap.text
    assert [s.status for s in store.events("battery")] == ["ok", "gap", "gap"]

    done = store.ingest(incoming([events[1], events[2], events[5]]))
    assert done.alarms == []
    (head,) = store.heads()
    assert (head.head_seq, head.chain) == (6, "verified")
    assert [s.status for s in store.events("battery")] == ["ok"] * 6
    assert check_station(store, head).ok


def test_a_hash_that_does_not_chain_is_stored_broken_and_later_events_flagged(
    store: Store,
) -> None:
    events = chained("quality", 3)
    bad = forged(event("quality", 4, "f" * 64), data={"i": 4})  # prev_hash: not seq 3's
    after = chained("quality", 2, after=bad)
    done = store.ingest(incoming([*events, bad, *after]))
    (alarm,) = done.alarms
    assert (alarm.kind, alarm.station, alarm.seq) == ("chain", "quality", 4)
    assert "prev_hash is not the hash of seq 3" in alarm.text
    (head,) = store.heads()
    assert (head.head_seq, head.broken_seq, head.chain) == (6, 4, "broken at seq 4")
    statuses = [(s.event.seq, s.status) for s in store.events("quality")]
    assert statuses == [(1, "ok"), (2, "ok"), (3, "ok"), (4, "broken"), *after_break(5, 6)]
    assert store.alarms() == done.alarms, "the alarm is stored with the events"
    report = check_station(store, head)
    assert report.problems == ["seq 4: prev_hash is not the hash of seq 3"]


def after_break(*seqs: int) -> list[tuple[int, str]]:
    return [(seq, "after_break") for seq in seqs]


def test_an_edited_event_is_broken_where_it_was_edited(store: Store) -> None:
    events = chained("diagnosis", 3)
    edited = forged(events[1], result="passed")
    done = store.ingest(incoming([events[0], edited, events[2]]))
    assert [a.text for a in done.alarms] == [
        "station diagnosis: hash chain broken: seq 2: its hash is not the hash of its fields"
    ]


def test_a_resend_with_another_hash_keeps_the_stored_event(store: Store) -> None:
    events = chained("exit", 2)
    store.ingest(incoming(events))
    other = forged(events[1], hash="a" * 64)
    done = store.ingest(incoming([other]))
    (alarm,) = done.alarms
    assert (alarm.kind, alarm.seq) == ("conflict", 2)
    assert store.events("exit")[1].event == events[1]


def test_the_schema_is_versioned_and_reopening_applies_nothing(plant_db: str) -> None:
    first = open_store(plant_db)
    first.ingest(incoming(chained("exit", 1)))
    first.close()
    again = open_store(plant_db)
    try:
        assert again.migrate() == len(MIGRATIONS)
        assert [h.head_seq for h in again.heads()] == [1]
    finally:
        again.close()


def test_a_new_sqlite_file_opened_by_several_at_once_opens_for_each(tmp_path: Path) -> None:
    """`station plant` opens its new database twice at once (the collector and the web
    view, each in its thread): CI once saw the second refused "database is locked"."""
    for attempt in range(40):
        refused = opened_at_once(str(tmp_path / f"plant{attempt}.sqlite3"), 3)
        assert not refused, f"attempt {attempt}: {refused}"


def opened_at_once(path: str, count: int) -> list[StoreError]:
    """The refusals of `count` threads opening `path` at the same moment."""
    start = threading.Barrier(count)
    refused: list[StoreError] = []

    def open_it() -> None:
        start.wait()
        try:
            open_store(path).close()
        except StoreError as error:
            refused.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refused


def test_a_database_that_cannot_be_opened_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no directory"):
        open_store(str(tmp_path / "absent" / "plant.sqlite3"))
    with pytest.raises(ValueError, match="SQLite file path or postgresql"):
        open_store("mysql://somewhere/plant")
    with pytest.raises(StoreError, match=r"postgresql://plant@127\.0\.0\.1:1/plant: connecting"):
        open_store("postgresql://plant:secret@127.0.0.1:1/plant")
