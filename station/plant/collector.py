"""`station plant`: the collector (docs/architecture.md section 7a).

- One MQTT connection with a persistent session (clean_session false, a fixed client
  id): the broker keeps what comes for the collector while it is down or restarting.
  It subscribes `<prefix>/#` at QoS 1 and takes every `<prefix>/<line>/<station>/journal`
  message; its own acks (`.../journal/ack`) are skipped; any other topic is a plant
  alarm (`unknown_topic`, once per topic).
- The broker's PUBACK is manual: a message is acknowledged to the broker only once its
  batch is committed, so a collector killed mid-ingest gets it again from its session
  (and a station resends from the plant's ack + 1 after its own reconnects).
- Batches: the messages waiting when one arrives, `batch_max` at most, stored in one
  transaction (`Store.ingest`) in the collector's own database thread, never on the
  event loop. A message refused (`station.plant.incoming`) is a plant alarm stored with
  the batch. After the commit: the PUBACKs, then for each station whose head moved (and
  the first time each station is seen after a start) the retained ack
  `{"seq": N, "hash": "..."}` on `.../journal/ack`, N the highest contiguous seq stored;
  the acks of a batch are published together (one round trip to the broker, not one a
  station), in a task of their own while the next batch is taken, each batch's once the
  previous batch's are confirmed.
- The database failing: the batch is retried (the store reopened) with capped backoff;
  nothing is acknowledged meanwhile. The broker failing: reconnects forever. The first
  connection failing, or the database not opening at start, ends `run` with an error.
- Strings from outside (topics, reasons quoting them) are bounded before they are
  logged (`shown`) or stored (`bound_text`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import aiomqtt
import structlog

from station.journal import bound_text
from station.journal.untrusted import shown
from station.plant import incoming as messages
from station.plant.store import Ingested, PlantAlarm, Store, StoreError, open_store
from station.uplink.backoff import reconnect_pause
from station.uplink.config import BrokerAddress
from station.uplink.stream import ReaderThread

log = structlog.get_logger("station.plant")

BATCH_MAX = 500
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 10.0
KEEPALIVE_S = 30
ACK_GRACE_S = 2.0
PENDING_ACKS = 10_000
"""Acks in flight before aiomqtt warns (its default, 10, is a line's stations)."""
REMEMBERED = 1000
"""Distinct unknown topics and refusals alarmed once each; past that, only logged."""
TOPIC_SHOWN = 200


class StartError(Exception):
    """The collector could not start (the database or the broker); one line."""


@dataclass
class Counts:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    batches: int = 0
    alarms: int = 0


@dataclass
class Collector:
    broker: BrokerAddress
    db_url: str
    prefix: str = "plant"
    client_id: str = "station-plant"
    batch_max: int = BATCH_MAX
    on_commit: Callable[[Ingested], None] | None = None
    counts: Counts = field(default_factory=Counts)

    def __post_init__(self) -> None:
        self._thread = ReaderThread("plant-db")
        self._store: Store | None = None
        self._published: dict[str, tuple[int, str]] = {}
        self._acking: asyncio.Task[None] | None = None
        self._stored_heads: dict[str, tuple[str, int, str]] = {}
        self._ever_connected = False
        self._alarmed: set[tuple[str, str]] = set()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled. StartError when the database or the first connection fails."""
        try:
            self._store = await self._thread.run(open_store, self.db_url)
        except (StoreError, ValueError) as exc:
            self._thread.shutdown()
            raise StartError(str(exc)) from None
        log.info("plant_database_open", database=self._store.name)
        try:
            await self._connect_forever()
        finally:
            store, self._store = self._store, None
            if store is not None:
                await self._thread.run(store.close)
            self._thread.shutdown()

    async def _connect_forever(self) -> None:
        failures = 0
        url = f"{'mqtts' if self.broker.tls else 'mqtt'}://{self.broker.host}:{self.broker.port}"
        while True:
            try:
                async with self._client() as client:
                    failures = 0
                    await client.subscribe(f"{self.prefix}/#", qos=1)
                    self.connected.set()
                    self._ever_connected = True
                    log.info("plant_subscribed", broker=url, client_id=self.client_id)
                    try:
                        await self._receive(client)
                    finally:
                        await self._stop_acking()
            except aiomqtt.MqttError as exc:
                if not self._ever_connected:
                    raise StartError(f"plant broker {url} unreachable: {exc}") from None
                log.warning("plant_broker_lost", broker=url, error=shown(str(exc)))
            finally:
                self.connected.clear()
            failures = min(failures + 1, 16)
            await reconnect_pause(failures, BACKOFF_MIN_S, BACKOFF_MAX_S)

    def _client(self) -> aiomqtt.Client:
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=self.client_id,
            clean_session=False,
            keepalive=KEEPALIVE_S,
            tls_context=ssl.create_default_context() if self.broker.tls else None,
            # the PUBACKs and acks of a batch are small writes: without it each waits on
            # Nagle and the broker's delayed ACK (40 ms)
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        # aiomqtt has no manual acknowledgement of its own: paho's, so the broker's copy
        # of a message goes only once the message is committed
        client._client.manual_ack_set(True)
        client.pending_calls_threshold = PENDING_ACKS  # a batch's acks, one a station
        return client

    async def _receive(self, client: aiomqtt.Client) -> None:
        stream = client.messages
        waiting = client._queue  # aiomqtt's own: its iterator costs a task a message
        async for first in stream:
            batch = [first]
            while not waiting.empty() and len(batch) < self.batch_max:
                batch.append(waiting.get_nowait())
            await self._take(client, batch)

    async def _take(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        events: list[messages.Incoming] = []
        refusals: list[PlantAlarm] = []
        for message in batch:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic.startswith(f"{self.prefix}/") and topic.endswith("/journal/ack"):
                continue  # our own acks, retained
            where = messages.stream_topic(topic, self.prefix)
            if where is None:
                self._refuse(refusals, "unknown_topic", None, f"topic {topic}", "not a stream")
                continue
            line, station = where
            try:
                events.append(messages.parse(payload, line, station))
            except messages.Refused as exc:
                self.counts.refused += 1
                self._refuse(refusals, "refused", station, f"station {station}", str(exc))
        done = await self._commit(events, refusals)
        for message in batch:
            if message.qos > 0:
                client._client.ack(message.mid, message.qos)
        # the stations' acks go out while the next batch is taken: in batch order, each
        # batch's after the previous one's are confirmed
        self._acking = asyncio.create_task(
            self._acknowledge(client, done, self._acking), name="plant-acks"
        )

    def _refuse(
        self, refusals: list[PlantAlarm], kind: str, station: str | None, what: str, why: str
    ) -> None:
        what = bound_text(what, TOPIC_SHOWN)
        log.warning("plant_refused", kind=kind, what=shown(what), why=shown(why))
        key = (what, why[:64])
        if key in self._alarmed or len(self._alarmed) >= REMEMBERED:
            return
        self._alarmed.add(key)
        refusals.append(PlantAlarm(kind, f"{what}: refused: {why}", station))

    async def _commit(
        self, events: list[messages.Incoming], refusals: list[PlantAlarm]
    ) -> Ingested:
        failures = 0
        while True:
            try:
                if self._store is None:
                    self._store = await self._thread.run(open_store, self.db_url)
                done = await self._thread.run(self._store.ingest, events, refusals)
                break
            except (StoreError, ValueError) as exc:
                log.error("plant_database_failed", error=shown(str(exc), 500), retrying=True)
                store, self._store = self._store, None
                if store is not None:
                    await self._thread.run(store.close)
                failures = min(failures + 1, 16)
                await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2**failures))
        self.counts.batches += 1
        self.counts.stored += done.stored
        self.counts.duplicates += done.duplicates
        self.counts.alarms += len(done.alarms)
        for alarm in done.alarms:
            log.warning(
                "plant_alarm",
                kind=alarm.kind,
                station=None if alarm.station is None else shown(alarm.station),
                seq=alarm.seq,
                text=shown(alarm.text, 500),
            )
        if self.on_commit is not None:
            self.on_commit(done)
        return done

    async def _stop_acking(self) -> None:
        """The acks still going out get `ACK_GRACE_S` (a stop), then are cancelled."""
        acking, self._acking = self._acking, None
        if acking is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, aiomqtt.MqttError):
                await asyncio.wait_for(acking, ACK_GRACE_S)

    async def _acknowledge(
        self, client: aiomqtt.Client, done: Ingested, previous: asyncio.Task[None] | None
    ) -> None:
        """Each station of the batch gets its newest head (a backlog of batches waiting
        here collapses into one ack a station)."""
        for head in done.heads.values():
            if head.head_seq:
                self._stored_heads[head.station] = (head.line, head.head_seq, head.head_hash)
        if previous is not None:
            await asyncio.wait([previous])  # its failures are its own (logged there)
        moved = {
            station: (line, seq, hash_)
            for station in done.heads
            if station in self._stored_heads
            for line, seq, hash_ in [self._stored_heads[station]]
            if self._published.get(station) != (seq, hash_)
        }
        # all at once: one round trip to the broker a batch, not one a station; no timeout
        # (a busy broker confirms late): a lost connection ends the receiving, and this
        # task with it
        results = await asyncio.gather(
            *(
                client.publish(
                    f"{self.prefix}/{line}/{station}/journal/ack",
                    json.dumps({"seq": seq, "hash": hash_}),
                    qos=1,
                    retain=True,
                    timeout=math.inf,
                )
                for station, (line, seq, hash_) in moved.items()
            ),
            return_exceptions=True,
        )
        for (station, (_, seq, hash_)), result in zip(moved.items(), results, strict=True):
            if isinstance(result, BaseException):
                log.warning("plant_ack_failed", station=shown(station), error=shown(str(result)))
            else:
                self._published[station] = (seq, hash_)
