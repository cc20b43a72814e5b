"""The plant collector (`station plant`) against a real Mosquitto and both databases:
the real uplink of a station (`station.uplink`, reading a real `Journal`) streams to it,
it stores every event once with its chain verified and acknowledges after the commit;
killed with -9 mid-ingest and restarted it loses nothing; bad messages are refused or
flagged with plant alarms, never a crash (docs/architecture.md section 7a)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from mqtt_broker import Broker, requires_mosquitto
from plant_rig import chained, collecting, event
from uplink_rig import STATION, Recorder, append, make_uplink

from station.journal import Journal
from station.plant.incoming import MAX_PAYLOAD
from station.plant.store import Store, open_store

pytest_plugins = ["mqtt_fixtures"]
pytestmark = requires_mosquitto


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll `condition` (a database read or a count) until it holds; fails after timeout_s."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def read(db: str, what: Callable[[Store], object]) -> object:
    store = open_store(db)
    try:
        return what(store)
    finally:
        store.close()


def plant_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_stations_uplink_is_stored_verified_and_acknowledged(
    tmp_path: Path, plant_broker: Broker, plant_db: str, journal: Journal
) -> None:
    recorder = Recorder()
    events = await append(journal, 40)  # the backlog, replayed
    async with (
        collecting(plant_broker, plant_db),
        make_uplink(plant_broker, tmp_path, recorder) as uplink,
    ):
        events += await append(journal, 20)  # live
        uplink.changed()
        await recorder.until(lambda: uplink.acked_seq == 60)
    await journal.close()
    assert "uplink:ack" not in recorder.active and recorder.notes == []
    rows = await asyncio.to_thread(read, plant_db, lambda s: s.events(STATION))
    assert isinstance(rows, list)
    assert [r.event for r in rows] == events, "kept as the station wrote it"
    assert {r.status for r in rows} == {"ok"}
    verified = await asyncio.to_thread(plant_cli, "plant", "verify", "--db", plant_db)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(
        f"ok: station {STATION} (line line-1): 60 events, seq 1..60, chain verified, "
        f"acknowledged up to seq 60 (hash {events[-1].hash[:16]}...)"
    )


def db_count(db: str) -> int:
    count = read(db, lambda s: next((h.head_seq for h in s.heads()), 0))
    assert isinstance(count, int)
    return count


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_collector_killed_mid_ingest_and_restarted_loses_nothing(
    tmp_path: Path, plant_broker: Broker, plant_db: str, journal: Journal
) -> None:
    total = 3000

    log = tmp_path / "plant.log"

    async def start() -> asyncio.subprocess.Process:
        """The collector, once subscribed (what comes before its first subscription is
        not kept for it: its session starts then)."""
        subscribed = log.read_text().count("plant_subscribed") if log.exists() else 0
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "station.cli", "plant", "--broker", plant_broker.url),
                *("--db", plant_db, "--log-level", "info"),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        await until(lambda: log.read_text().count("plant_subscribed") > subscribed)
        return process

    recorder = Recorder()
    events = await append(journal, 500)
    first = await start()
    try:
        async with make_uplink(plant_broker, tmp_path, recorder) as uplink:
            for _ in range((total - 500) // 500):
                events += await append(journal, 500)
                uplink.changed()
            await until(lambda: db_count(plant_db) >= 200)
            first.send_signal(signal.SIGKILL)
            await first.wait()
            at_kill = await asyncio.to_thread(db_count, plant_db)
            assert at_kill < total, "killed mid-ingest"
            second = await start()
            try:
                await recorder.until(lambda: uplink.acked_seq == total, timeout_s=120)
            finally:
                second.send_signal(signal.SIGTERM)
                assert await second.wait() == 0
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    await journal.close()
    rows = await asyncio.to_thread(read, plant_db, lambda s: s.events(STATION, limit=10 * total))
    assert isinstance(rows, list)
    assert [r.event for r in rows] == events, "every event exactly once, as written"
    assert {r.status for r in rows} == {"ok"}
    alarms = await asyncio.to_thread(read, plant_db, lambda s: s.alarms())
    assert alarms == []
    verified = await asyncio.to_thread(plant_cli, "plant", "verify", "--db", plant_db)
    assert verified.returncode == 0, verified.stderr


async def publish(broker: Broker, topic: str, payload: bytes | str) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(topic, payload, qos=1)


async def test_bad_messages_are_refused_or_flagged_and_the_collector_goes_on(
    plant_broker: Broker, plant_db: str
) -> None:
    station = "exit"
    topic = f"plant/line-1/{station}/journal"
    good = chained(station, 5)
    breaking = event(station, 6, "e" * 64)  # its prev_hash is not seq 5's hash
    async with collecting(plant_broker, plant_db) as collector:
        await publish(plant_broker, topic, b"{not json")
        await publish(plant_broker, "plant/line-1/exit/other", b"{}")
        await publish(plant_broker, topic, b"x" * (MAX_PAYLOAD + 1))
        await publish(plant_broker, topic, json.dumps({**good[0].to_dict(), "station": "x"}))
        await publish(plant_broker, topic, json.dumps(good[0].to_dict()))
        await publish(plant_broker, topic, json.dumps(good[2].to_dict()))  # seq 2 missing
        await until(lambda: collector.counts.stored == 2)
        for later in (good[1], good[3], good[4], breaking):
            await publish(plant_broker, topic, json.dumps(later.to_dict()))
        await until(lambda: collector.counts.stored == 6)
        assert collector.counts.refused == 3
    alarms = await asyncio.to_thread(read, plant_db, lambda s: s.alarms())
    assert isinstance(alarms, list)
    kinds = [(a.kind, a.station, a.seq) for a in alarms]
    assert kinds == [
        ("refused", station, None),
        ("unknown_topic", None, None),
        ("refused", station, None),
        ("refused", station, None),
        ("gap", station, 2),
        ("chain", station, 6),
    ]
    texts = [a.text for a in alarms]
    assert texts[0].startswith("station exit: refused: not JSON")
    assert texts[1] == "topic plant/line-1/exit/other: refused: not a stream"
    assert f"more than {MAX_PAYLOAD}" in texts[2]
    assert "the event says another" in texts[3]
    heads = await asyncio.to_thread(read, plant_db, lambda s: s.heads())
    assert isinstance(heads, list)
    (head,) = heads
    assert (head.head_seq, head.chain) == (6, "broken at seq 6")
    verified = await asyncio.to_thread(plant_cli, "plant", "verify", "--db", plant_db)
    assert verified.returncode == 1
    assert verified.stderr == "exit: seq 6: prev_hash is not the hash of seq 5\n"
