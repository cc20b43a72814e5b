"""The plant database failing under the collector, on a real PostgreSQL: stopped and
started mid-ingest (the collector retries, acknowledges nothing meanwhile, loses
nothing), and two collectors at once on one database (each event stored once, every
chain verified)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from mqtt_broker import Broker, requires_mosquitto
from plant_rig import collecting
from postgres_server import PostgresServer
from test_plant_collector import until
from uplink_rig import STATION, Recorder, append, make_uplink

from station.journal import Journal
from station.plant.collector import Collector
from station.plant.store import open_store
from station.plant.verify import check_station
from station.uplink.config import parse_broker_url

pytest_plugins = ["mqtt_fixtures"]
pytestmark = [requires_mosquitto, pytest.mark.slow]

DOWN_S = 2.0
"""How long the database stays down while the test watches that nothing is acknowledged."""


def stored(db: str) -> tuple[list[str], list[str], bool, int]:
    """(statuses, hashes, chain verified, plant alarms) of the station's stored events."""
    store = open_store(db)
    try:
        rows = store.events(STATION, limit=100_000)
        (head,) = store.heads()
        return (
            [r.status for r in rows],
            [r.event.hash for r in rows],
            check_station(store, head).ok,
            len(store.alarms()),
        )
    finally:
        store.close()


@pytest.mark.timeout(240)
async def test_the_database_restarted_mid_ingest_loses_nothing(
    tmp_path: Path,
    plant_broker: Broker,
    postgres_server: PostgresServer,
    postgres_url: str,
    journal: Journal,
) -> None:
    recorder = Recorder()
    events = await append(journal, 300)
    async with (
        collecting(plant_broker, postgres_url) as collector,
        make_uplink(plant_broker, tmp_path, recorder) as uplink,
    ):
        await recorder.until(lambda: uplink.acked_seq >= 100)
        await asyncio.to_thread(postgres_server.stop)
        try:
            acked, batches = uplink.acked_seq, collector.counts.batches
            events += await append(journal, 700)
            uplink.changed()
            deadline = time.monotonic() + DOWN_S
            while time.monotonic() < deadline:  # watched: nothing acknowledged while down
                assert (uplink.acked_seq, collector.counts.batches) == (acked, batches)
                await asyncio.sleep(0.05)
        finally:
            await asyncio.to_thread(postgres_server.start)
        await recorder.until(lambda: uplink.acked_seq == 1000, timeout_s=120)
    await journal.close()
    statuses, hashes, verified, alarms = await asyncio.to_thread(stored, postgres_url)
    assert hashes == [e.hash for e in events], "every event once, in order"
    assert set(statuses) == {"ok"} and verified and alarms == 0


@pytest.mark.timeout(240)
async def test_two_collectors_on_one_database_store_each_event_once(
    tmp_path: Path, plant_broker: Broker, postgres_url: str, journal: Journal
) -> None:
    recorder = Recorder()
    second = Collector(parse_broker_url(plant_broker.url), postgres_url, client_id="plant-two")
    task = asyncio.create_task(second.run())
    try:
        async with asyncio.timeout(30):
            await second.connected.wait()
        events = await append(journal, 500)
        async with (
            collecting(plant_broker, postgres_url) as first,
            make_uplink(plant_broker, tmp_path, recorder) as uplink,
        ):
            for _ in range(4):
                events += await append(journal, 500)
                uplink.changed()
            await recorder.until(lambda: uplink.acked_seq == 2500, timeout_s=120)
            await until(  # both took every message
                lambda: min(c.counts.stored + c.counts.duplicates for c in (first, second)) >= 2500
            )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await journal.close()
    assert first.counts.stored + second.counts.stored == 2500
    statuses, hashes, verified, alarms = await asyncio.to_thread(stored, postgres_url)
    assert hashes == [e.hash for e in events], "every event once, in order"
    assert set(statuses) == {"ok"} and verified and alarms == 0
