"""The journal stream over a real Mosquitto, checked by `mosquitto_sub -v -q 1`
(a subscriber we did not write) against the journal (`station.journal.Journal`).
"""

from __future__ import annotations

import json
from pathlib import Path

from mqtt_broker import Broker, Subscriber, requires_mosquitto
from uplink_rig import TOPIC, Recorder, append, expected, make_uplink, parsed, send_ack

from station.journal import Journal
from station.uplink.state import FILE_NAME
from station.uplink.stream import NOTES_PER_MINUTE

pytest_plugins = ["mqtt_fixtures"]
pytestmark = requires_mosquitto


async def test_every_event_arrives_in_order_with_its_fields(
    plain_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    before = await append(journal, 40)
    async with Subscriber(plain_broker, TOPIC) as sub:
        async with make_uplink(plain_broker, tmp_path, recorder) as uplink:
            await sub.until(40)
            after = await append(journal, 40)
            uplink.changed()
            received = await sub.until(80)
        await journal.close()
    assert parsed(received) == [expected(e, replay=True) for e in before] + [
        expected(e, replay=False) for e in after
    ]
    assert recorder.notes == []


async def test_ack_moves_the_cursor_only_with_the_station_hash(
    plain_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    events = await append(journal, 20)
    async with (
        Subscriber(plain_broker, TOPIC) as sub,
        make_uplink(plain_broker, tmp_path, recorder) as uplink,
    ):
        await sub.until(20)
        assert uplink.backlog == 20
        forged = "f" * 64
        for _ in range(2):  # the same wrong ack twice: alarm, reported once
            await send_ack(plain_broker, 10, forged)
        await recorder.until(lambda: "uplink:ack" in recorder.active)
        assert "seq 10" in recorder.active["uplink:ack"]
        await send_ack(plain_broker, 10, events[9].hash)
        await recorder.until(lambda: uplink.acked_seq == 10)
        assert "uplink:ack" not in recorder.active
        assert uplink.backlog == 10
        await send_ack(plain_broker, 999, events[0].hash)  # a seq never written
        await send_ack(plain_broker, 5, events[4].hash)  # older than the cursor
        await recorder.until(lambda: len(recorder.notes) == 3)
        await send_ack(plain_broker, 20, events[19].hash)
        await recorder.until(lambda: uplink.acked_seq == 20)
    await journal.close()
    reasons = [(data["seq"], data["reason"]) for _, data in recorder.notes]
    assert reasons == [
        (10, f"hash differs from the station's ({events[9].hash})"),
        (999, "seq never written"),
        (5, "older than the cursor"),
    ]
    assert {kind for kind, _ in recorder.notes} == {"uplink_ack_ignored"}
    saved = json.loads((tmp_path / FILE_NAME).read_text())
    assert (saved["acked_seq"], saved["acked_hash"]) == (20, events[19].hash)


async def test_restart_resends_from_ack_plus_one_marked_replay(
    plain_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    events = await append(journal, 30)
    recorder = Recorder()
    async with make_uplink(plain_broker, tmp_path, recorder) as uplink:
        await send_ack(plain_broker, 12, events[11].hash)
        await recorder.until(lambda: uplink.acked_seq == 12)
    async with (
        Subscriber(plain_broker, TOPIC) as sub,
        make_uplink(plain_broker, tmp_path, recorder),
    ):
        received = await sub.until(18)
    await journal.close()
    assert parsed(received) == [expected(e, replay=True) for e in events[12:]]


async def test_broker_down_then_back_nothing_lost(
    own_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    first = await append(journal, 10)
    async with make_uplink(own_broker, tmp_path, recorder, backlog_alarm=15) as uplink:
        async with Subscriber(own_broker, TOPIC) as sub:
            await sub.until(10)
        own_broker.stop()
        await recorder.until(lambda: "uplink:link" in recorder.active)
        later = await append(journal, 20)
        uplink.changed()
        await recorder.until(lambda: "uplink:backlog" in recorder.active)
        assert uplink.backlog == 30
        own_broker.start()
        async with Subscriber(own_broker, TOPIC) as sub:
            received = await sub.until(30)
        assert "uplink:link" not in recorder.active
    await journal.close()
    assert parsed(received) == [expected(e, replay=True) for e in first + later]
    assert "unreachable" in dict(recorder.raised)["uplink:link"]


async def test_broker_restarted_mid_replay(
    own_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    events = await append(journal, 3000)
    async with make_uplink(own_broker, tmp_path, recorder) as uplink:
        async with Subscriber(own_broker, TOPIC) as sub:
            received = await sub.until(200)
            acked = len(received)
            await send_ack(own_broker, acked, events[acked - 1].hash)
            await recorder.until(lambda: uplink.acked_seq == acked)
        own_broker.stop()  # mid-replay; its retained ack is lost with it (no persistence)
        own_broker.start()
        async with Subscriber(own_broker, TOPIC) as sub:
            received = await sub.until(3000 - acked)
    await journal.close()
    replayed = parsed(received)
    assert replayed[0]["seq"] <= acked + 1  # from ack+1 or before, never after
    assert replayed[-(3000 - acked) :] == [expected(e, replay=True) for e in events[acked:]]


async def test_a_broker_that_never_acks_raises_the_backlog_alarm(
    plain_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    await append(journal, 5)
    async with (
        Subscriber(plain_broker, TOPIC) as sub,
        make_uplink(plain_broker, tmp_path, recorder, backlog_alarm=8) as uplink,
    ):
        await sub.until(5)
        assert "uplink:backlog" not in recorder.active
        await append(journal, 5)
        uplink.changed()
        await sub.until(10)
        await recorder.until(lambda: "uplink:backlog" in recorder.active)
    await journal.close()
    assert "10 journal events not acknowledged" in recorder.active["uplink:backlog"]


async def test_the_backlog_alarm_clears_only_at_nine_tenths_of_its_threshold(
    own_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    events = await append(journal, 20)
    async with (
        Subscriber(own_broker, TOPIC) as sub,
        make_uplink(own_broker, tmp_path, recorder, backlog_alarm=15) as uplink,
    ):
        await sub.until(20)
        await recorder.until(lambda: "uplink:backlog" in recorder.active)
        await send_ack(own_broker, 6, events[5].hash)  # backlog 14: under 15, over 13.5
        await recorder.until(lambda: uplink.acked_seq == 6)
        assert "uplink:backlog" in recorder.active
        await send_ack(own_broker, 7, events[6].hash)  # backlog 13
        await recorder.until(lambda: "uplink:backlog" not in recorder.active)
    await journal.close()
    assert [key for key, _ in recorder.raised].count("uplink:backlog") == 1


async def test_a_flood_of_distinct_forged_acks_is_journaled_ten_a_minute(
    own_broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    recorder = Recorder()
    await append(journal, 3)
    async with (
        Subscriber(own_broker, TOPIC) as sub,
        make_uplink(own_broker, tmp_path, recorder) as uplink,
    ):
        await sub.until(3)
        for seq in range(1000, 1015):  # 15 seqs never written
            await send_ack(own_broker, seq, "f" * 64)
        await recorder.until(lambda: len(recorder.notes) == NOTES_PER_MINUTE)
        await send_ack(own_broker, 2, "f" * 64)  # and one more, after the flood
        await recorder.until(lambda: "seq 2 " in recorder.active.get("uplink:ack", ""))
        assert uplink.acked_seq == 0
    await journal.close()
    assert [data["seq"] for _, data in recorder.notes] == list(range(1000, 1010))
