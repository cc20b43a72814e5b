"""A running station anchors its journal's head with the key its station file names, and
`station journal verify --anchor` checks the journal against those anchors (docs/faults.md row
35; docs/journal.md). The exit station runs on its simulators over real protocols."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

from test_journal_hardening import station_cli

from station.assembly import assemble
from station.config.loader import load_station
from station.config.models import JournalSettings

STATIONS = Path(__file__).parent.parent.parent / "configs" / "stations"


async def anchors_written(path: Path, count: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        # a file the journal writes from its thread: polled, there is no event to await
        while not path.exists() or len(path.read_text().splitlines()) < count:  # noqa: ASYNC110, ASYNC240
            await asyncio.sleep(0.05)


async def test_a_station_anchors_its_head_and_verify_checks_it(tmp_path: Path) -> None:
    key = tmp_path / "anchor.key"
    made = station_cli("anchor-key", str(key))
    assert made.returncode == 0, made.stderr
    assert os.stat(key).st_mode & 0o777 == 0o600
    again = station_cli("anchor-key", str(key))
    assert again.returncode == 2 and "not overwritten" in again.stderr

    loaded = load_station(STATIONS / "exit.yaml")
    settings = JournalSettings(anchor_key=str(key), anchor_every_s=1.0)
    loaded = dataclasses.replace(
        loaded, model=loaded.model.model_copy(update={"journal": settings})
    )
    state = tmp_path / "state"
    state.mkdir()
    anchors = state / "anchors.jsonl"
    async with assemble(loaded, state, simulate=True, autostart=False):
        await anchors_written(anchors, 1)  # every second while it runs
    after_stop = len(anchors.read_text().splitlines())  # and one at the clean stop
    assert after_stop >= 2

    verified = station_cli("verify", "--state-dir", str(state), "--anchor", str(key))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    wrong = tmp_path / "other.key"
    assert station_cli("anchor-key", str(wrong)).returncode == 0
    forged = station_cli("verify", "--state-dir", str(state), "--anchor", str(wrong))
    assert forged.returncode == 1, forged.stdout
