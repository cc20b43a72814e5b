"""The typed journal events (`station.events`): one entry class per kind, the
columns it fills, and the stored form, unchanged by the enum."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from station import events
from station.events import Entry, EventKind, Identified, Released
from station.journal import CHAIN_SEALED, Journal

COLUMNS = {"vin", "step", "result", "operator", "data"}
"""The keyword arguments of `Journal.append` besides the kind."""


def entry_classes() -> list[type[Entry]]:
    found: list[type[Entry]] = []
    todo = list(Entry.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "KIND" in vars(cls):
            found.append(cls)
    return found


def test_every_kind_has_one_entry_class_that_fills_only_journal_columns() -> None:
    classes = entry_classes()
    assert sorted(cls.KIND for cls in classes) == sorted(EventKind)
    for cls in classes:
        assert getattr(events, cls.__name__) is cls
        assert {f.name for f in dataclasses.fields(cls)} <= COLUMNS, cls.__name__


async def test_a_committed_entry_reads_back_typed_and_stored_as_its_plain_kind(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    entry = Identified(
        vin="VF1RFB00X66123456",
        step="1:identify",
        result="barcode+rfid",
        data={"tag": "00ff", "model": "Clio"},
    )
    async with Journal.open(path, "photo-studio") as journal:
        journal.config_hash = "c0ffee"
        await journal.append(entry.KIND.value, **entry.fields())
        (event,) = journal.events()
    assert Identified.of(event) == entry
    with pytest.raises(ValueError, match="is 'identified', not 'released'"):
        Released.of(event)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT kind FROM events").fetchall() == [("identified",)]


def test_the_kind_the_journal_seals_with_is_an_event_kind() -> None:
    """`station journal seal` writes through the journal (below the events module): its
    kind must be the one the runtime knows, or replay would not recognise it."""
    assert EventKind(CHAIN_SEALED) is EventKind.CHAIN_SEALED
