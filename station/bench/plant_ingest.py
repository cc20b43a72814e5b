"""The plant benchmark's ingest: the journals of a plant's stations (`plant_journals`)
published to a real broker and stored by the real collector (`station.plant.collector`).

Each station's events are written beforehand as JSON lines (the journal stream's payload,
`Event.to_json`), then published at once by one `mosquitto_pub -l -q 1` a station (a
publisher we did not write, in C: the stations' side costs the 2 cores little) to
Debian's mosquitto started for the run (`station.simulation.mosquitto`). The collector
runs in this process as `station plant` runs it, into the given database. The clock runs
from the first publisher's start to the last station's ack (the collector's retained
`{"seq", "hash"}` on `.../journal/ack`) naming its last seq; then the stored heads say
whether every chain verified and how many plant alarms were raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import shutil
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from station.bench.plant_journals import Plant
from station.plant.collector import Collector
from station.plant.store import open_store
from station.simulation.mosquitto import local_broker
from station.uplink.config import BrokerAddress, parse_broker_url

PREFIX = "plant"
WAIT_S = 300.0
"""Past it the figures say how far it got (`acked`, `stored`)."""
END_S = 10.0
"""How long a publisher may take to end once its messages are in."""


def write_streams(plant: Plant, folder: Path) -> dict[str, tuple[str, int, str]]:
    """Each station's stream as a file of JSON lines: station -> (line, events, last hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    streams = {}
    for name, station in sorted(plant.stations.items()):
        count, last = 0, ""
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            for event in plant.events(name):
                out.write(event.to_json() + "\n")
                count, last = count + 1, event.hash
        streams[name] = (station.line, count, last)
    return streams


async def _acks(
    client: aiomqtt.Client, expected: dict[str, int], acked: dict[str, int], done: asyncio.Event
) -> None:
    async for message in client.messages:
        parts = message.topic.value.split("/")
        payload = message.payload if isinstance(message.payload, bytes) else b"{}"
        seq = json.loads(payload).get("seq", 0)
        acked[parts[2]] = max(acked.get(parts[2], 0), int(seq))
        if all(acked.get(name, 0) >= count for name, count in expected.items()):
            done.set()
            return


def _stored(db: str) -> dict[str, Any]:
    store = open_store(db)
    try:
        heads = store.heads()
        return {
            "stations": len(heads),
            "events": sum(h.head_seq for h in heads),
            "chains": sorted({h.chain for h in heads}),
            "alarms": len(store.alarms()),
        }
    finally:
        store.close()


async def _publish(
    publisher: str, host: str, port: int, streams: dict[str, tuple[str, int, str]], folder: Path
) -> list[asyncio.subprocess.Process]:
    """One `mosquitto_pub -l -q 1` a station, publishing its stream file."""
    publishers = []
    for name, (line, _, _) in streams.items():
        with (folder / f"{name}.jsonl").open("rb") as stream:
            publishers.append(
                await asyncio.create_subprocess_exec(
                    *(publisher, "-h", host, "-p", str(port)),
                    *("-q", "1", "-i", f"bench-{name}", "-l"),
                    *("-t", f"{PREFIX}/{line}/{name}/journal"),
                    stdin=stream,
                )
            )
    return publishers


async def _streams(plant: Plant, folder: Path) -> tuple[str, dict[str, tuple[str, int, str]]]:
    """mosquitto_pub's path, and each station's stream written in `folder`/streams."""
    publisher = shutil.which("mosquitto_pub")
    if publisher is None:
        raise RuntimeError("needs mosquitto_pub (Debian: mosquitto-clients)")
    return publisher, await asyncio.to_thread(write_streams, plant, folder / "streams")


async def _ended(publishers: list[asyncio.subprocess.Process]) -> list[int]:
    """The publishers' exit codes, once each has had its last PUBACK and disconnected,
    or was killed `END_S` later."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(END_S):
            await asyncio.gather(*(process.wait() for process in publishers))
    for process in publishers:
        if process.returncode is None:
            process.kill()
    return [await process.wait() for process in publishers]


def _cpu_s() -> float:
    """This process's CPU time so far (every thread), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class _Timed:
    seconds: float
    cpu_s: float
    """This process's, every thread's."""
    publishers_ok: bool


async def _timed(
    publisher: str,
    broker: BrokerAddress,
    streams: dict[str, tuple[str, int, str]],
    folder: Path,
    until: Coroutine[Any, Any, object],
) -> _Timed:
    """Every stream published at once; the time and CPU from the first publisher's
    start until `until` returns (or `WAIT_S` passes)."""
    cpu, start = _cpu_s(), time.perf_counter()
    publishers = await _publish(publisher, broker.host, broker.port, streams, folder / "streams")
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT_S):
            await until
    seconds, cpu_s = time.perf_counter() - start, _cpu_s() - cpu
    codes = await _ended(publishers)
    return _Timed(seconds, cpu_s, all(code == 0 for code in codes))


async def client_floor(plant: Plant, folder: Path) -> dict[str, Any]:
    """The same streams received by the collector's MQTT client alone (its settings,
    `Collector._client`: QoS 1, a persistent session, each message acknowledged) doing
    nothing with them: the ceiling one event a message puts on any collector in this
    process, whatever it does with an event."""
    publisher, streams = await _streams(plant, folder)
    total = sum(count for _, count, _ in streams.values())
    async with local_broker(folder / "broker") as url:
        broker = parse_broker_url(url)
        async with Collector(
            broker, ":memory:", prefix=PREFIX, client_id="floor"
        )._client() as client:
            await client.subscribe(f"{PREFIX}/#", qos=1)
            received = 0

            async def receive_all() -> None:
                nonlocal received
                async for message in client.messages:
                    client._client.ack(message.mid, message.qos)
                    received += 1
                    if received == total:
                        return

            timed = await _timed(publisher, broker, streams, folder, receive_all())
    return {
        "messages": total,
        "received": received,
        "messages_per_s": round(received / timed.seconds),
        "cpu_us_per_message": round(timed.cpu_s / max(received, 1) * 1e6, 1),
        "publishers_ok": timed.publishers_ok,
    }


async def ingest(plant: Plant, db: str, folder: Path) -> dict[str, Any]:
    """Publish every station's journal and store it; the figures."""
    publisher, streams = await _streams(plant, folder)
    expected = {name: count for name, (_, count, _) in streams.items()}
    total = sum(expected.values())
    async with local_broker(folder / "broker") as url:
        broker = parse_broker_url(url)
        collector = Collector(broker, db, prefix=PREFIX, client_id="plant-bench")
        running = asyncio.create_task(collector.run(), name="bench-collector")
        try:
            async with asyncio.timeout(30):
                await collector.connected.wait()
            async with aiomqtt.Client(broker.host, broker.port) as watcher:
                await watcher.subscribe(f"{PREFIX}/+/+/journal/ack", qos=1)
                done = asyncio.Event()
                acked: dict[str, int] = {}
                acks = asyncio.create_task(_acks(watcher, expected, acked, done))
                timed = await _timed(publisher, broker, streams, folder, done.wait())
                acks.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acks
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    stored = await asyncio.to_thread(_stored, db)
    verified = (
        stored["chains"] == ["verified"]
        and stored["alarms"] == 0
        and stored["events"] == total
        and all(acked.get(name, 0) == count for name, count in expected.items())
    )
    return {
        "stations": len(streams),
        "events": total,
        "seconds": round(timed.seconds, 2),
        "events_per_s": round(total / timed.seconds),
        "collector_cpu_s": round(timed.cpu_s, 2),
        "batches": collector.counts.batches,
        "events_per_batch": round(collector.counts.stored / max(collector.counts.batches, 1), 1),
        "publishers_ok": timed.publishers_ok,
        "acked": sum(acked.values()),
        "chain_check_passed": verified,
        "stored": stored,
    }
