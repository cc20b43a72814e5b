"""The plant link of a real station (docs/faults.md rows 22 and 24, docs/cli.md "The plant
link"): `station run --simulate --broker URL` streams its journal to a real Mosquitto, a
kill -9 mid-publish loses nothing (the journal is the outbox: the restarted station
resends from the plant's ack + 1, marked replay), and a broker that refuses the station
is an alarm on the station's list while the station goes on with its vehicles. The
checker is `mosquitto_sub`, a subscriber we did not write."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mqtt_broker import USER, Broker, Subscriber
from test_runtime_basic import wait_until
from uplink_rig import send_ack

from station.assembly import assemble
from station.commands.run import command_line
from station.config.loader import load_station
from station.journal import Event, JournalError, JournalReader
from station.scenario import load_scenario
from station.uplink.config import Uplink

pytest_plugins = ["mqtt_fixtures"]

STATIONS = Path(__file__).parent.parent / "stations"
CONFIG = STATIONS / "photo-quick.yaml"
TOPIC = "plant/line-1/photo-studio/journal"
VINS = [f"VF1RFB00X661234{n:02d}" for n in range(8)]


def journal_events(state: Path) -> list[Event]:
    try:
        with JournalReader.open(state / "journal.sqlite3") as reader:
            return reader.events()
    except JournalError:
        return []  # not created yet


def verify(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", "journal", "verify", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def seqs_of(received: list[tuple[str, str]]) -> list[int]:
    return [json.loads(payload)["seq"] for _, payload in received]


async def received_every(subscriber: Subscriber, seqs: set[int], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not seqs <= set(seqs_of(subscriber.received)):
            await subscriber.until(len(subscriber.received) + 1, timeout_s)


async def station_journal_has(
    state: Path, kind: str, count: int, proc: asyncio.subprocess.Process, timeout_s: float = 60.0
) -> list[Event]:
    async with asyncio.timeout(timeout_s):
        while True:
            events = await asyncio.to_thread(journal_events, state)
            if sum(e.kind == kind for e in events) >= count:
                return events
            assert proc.returncode is None, f"station exited ({proc.returncode})"
            await asyncio.sleep(0.02)


async def start_station(state: Path, scenario: Path, broker: Broker) -> asyncio.subprocess.Process:
    argv = command_line(
        CONFIG,
        state,
        simulate=True,
        scenario=scenario,
        fast=True,
        opcua="off",
        broker=f"mqtt://127.0.0.1:{broker.port}",
    )
    return await asyncio.create_subprocess_exec(
        *argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_station_killed_mid_publish_resends_from_the_ack_and_loses_nothing(
    tmp_path: Path, own_broker: Broker
) -> None:
    state = tmp_path / "state"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("vehicles:\n" + "".join(f"  - {{vin: {vin}}}\n" for vin in VINS))
    async with Subscriber(own_broker, TOPIC) as subscriber:
        first = await start_station(state, scenario, own_broker)
        try:
            await subscriber.until(40)
            events = {e.seq: e for e in await asyncio.to_thread(journal_events, state)}
            acked = events[20]
            await send_ack(own_broker, acked.seq, acked.hash)  # the plant stored 1..20
            await subscriber.until(len(subscriber.received) + 5)  # still publishing
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        before_restart = len(subscriber.received)

        second = await start_station(state, scenario, own_broker)
        try:
            await station_journal_has(state, "released", len(VINS), second)
            # a forged ack (another hash for an event it wrote) is ignored and journaled
            await send_ack(own_broker, acked.seq + 1, "f" * 64)
            events = await station_journal_has(state, "uplink_ack_ignored", 1, second)
            (ignored,) = [e for e in events if e.kind == "uplink_ack_ignored"]
            journal = await asyncio.to_thread(journal_events, state)
            await received_every(subscriber, {e.seq for e in journal})
        finally:
            second.send_signal(signal.SIGTERM)
            assert await second.wait() == 0

    messages: dict[int, dict[str, Any]] = {}
    for _, payload in subscriber.received:
        message = json.loads(payload)
        messages.setdefault(message["seq"], message)
    for event in journal:  # every event arrived, as the station journaled it
        message = dict(messages[event.seq])
        message.pop("replay", None)
        assert message == event.to_dict()
    after = [json.loads(p) for _, p in subscriber.received[before_restart:]]
    assert after[0]["seq"] == acked.seq + 1, "the restart resends from the plant's ack + 1"
    assert after[0]["replay"] is True
    assert all(m["seq"] > acked.seq for m in after), "nothing the plant acked is resent"

    # the plant's ack anchors the chain outside the station: verify reports it, and a
    # journal changed after the plant stored it no longer matches
    verified = verify(state)
    assert verified.returncode == 0, verified.stderr
    assert f"plant: acknowledged up to seq {acked.seq} " in verified.stdout
    assert "matches" in verified.stdout
    saved = json.loads((state / "uplink.json").read_text())
    (state / "uplink.json").write_text(json.dumps({**saved, "acked_hash": "0" * 64}))
    forged = verify(state)
    assert forged.returncode == 1 and "DOES NOT MATCH" in forged.stdout
    assert ignored.data["seq"] == acked.seq + 1 and "hash" in ignored.data["reason"]


async def test_a_broker_refusing_the_station_is_an_alarm_and_the_vehicles_go_on(
    tmp_path: Path, password_broker: Broker
) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password\n")
    loaded = load_station(CONFIG)
    section = Uplink(
        broker=f"mqtt://127.0.0.1:{password_broker.port}",
        username=USER,
        password_file=str(wrong),
        backoff_min_s=0.05,
        backoff_max_s=0.5,
    )
    loaded = dataclasses.replace(loaded, model=loaded.model.model_copy(update={"uplink": section}))
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text("vehicles:\n" + "".join(f"  - {{vin: {vin}}}\n" for vin in VINS[:2]))
    scenario = load_scenario(scenario_file)

    async with assemble(
        loaded, tmp_path, simulate=True, scenario=scenario, time_scale=0.02
    ) as built:
        station = built.station
        assert built.uplink is not None and built.world is not None

        def alarm_text() -> str:
            alarms = {a["key"]: a for a in station.status()["alarms"] if a["active"]}
            return alarms["uplink:link"]["text"] if "uplink:link" in alarms else ""

        await wait_until(station, lambda: "password" in alarm_text(), timeout=20)
        assert "uplink.password_file" in alarm_text()
        async with asyncio.timeout(60):
            await built.world.run()  # both vehicles through the station meanwhile
        assert station.counts["passed"] == 2
        assert "password" in alarm_text(), "still refused"
        assert built.uplink.backlog > 0, "nothing acked: every event waits in the journal"


def test_a_tls_broker_without_a_ca_is_refused_before_anything_starts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    argv = command_line(CONFIG, state, simulate=True, opcua="off", broker="mqtts://127.0.0.1:8883")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "--broker mqtts://127.0.0.1:8883: Value error, an mqtts:// broker needs ca_file "
        "(the CA of its certificate)"
    ), done.stderr
    assert not state.exists(), "nothing started"
