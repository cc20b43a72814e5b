"""The web view's subscription to the stations' Sparkplug B state: one MQTT connection
of its own (clean session: live state only, nothing stored), `spBv1.0/+/NBIRTH|NDATA|
NDEATH/+`, each message folded into the board's `Nodes` (`station.web.nodes`), then the
pages woken.

A host application that comes after its nodes' births asks them again: at each
connection, NCMD `Node Control/Rebirth` to every station the board knows (group = its
line, node = the station: the uplink's defaults), and to a node whose NDATA comes before
any NBIRTH (at most once per REBIRTH_EVERY_S a node). Reconnects forever with capped
backoff; the broker's outage leaves the board on what it knew.
"""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable

import aiomqtt
import structlog

from station.journal.untrusted import shown
from station.uplink import sparkplug
from station.uplink.backoff import reconnect_pause
from station.uplink.config import BrokerAddress
from station.web.nodes import MAX_NODES, Nodes, node_topic

log = structlog.get_logger("station.web")

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 10.0
KEEPALIVE_S = 30
REBIRTH_EVERY_S = 5.0


class NodeFeed:
    def __init__(
        self,
        broker: BrokerAddress,
        nodes: Nodes,
        known: Callable[[], list[tuple[str, str]]],
        changed: Callable[[], Awaitable[None]],
    ) -> None:
        self.broker = broker
        self.nodes = nodes
        self.known = known
        """(line, station) of every station the board shows."""
        self.changed = changed
        self.connected = asyncio.Event()
        self._asked: dict[str, float] = {}

    async def run(self) -> None:
        """Until cancelled."""
        failures = 0
        while True:
            try:
                async with self._client() as client:
                    failures = 0
                    for kind, qos in (("NBIRTH", 0), ("NDATA", 0), ("NDEATH", 1)):
                        await client.subscribe(f"{sparkplug.NAMESPACE}/+/{kind}/+", qos=qos)
                    self.connected.set()
                    for group, node in self.known():
                        await self._rebirth(client, group, node)
                    await self._receive(client)
            except aiomqtt.MqttError as exc:
                log.warning("web_sparkplug_lost", error=shown(str(exc)))
            finally:
                self.connected.clear()
            failures = min(failures + 1, 16)
            await reconnect_pause(failures, BACKOFF_MIN_S, BACKOFF_MAX_S)

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=f"station-plant-web-{os.getpid()}-{random.getrandbits(32):08x}",
            clean_session=True,
            keepalive=KEEPALIVE_S,
            tls_context=ssl.create_default_context() if self.broker.tls else None,
        )

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            topic = message.topic.value
            if self.nodes.take(topic, payload, time.time()):
                where = node_topic(topic)
                if where is not None:
                    await self._rebirth(client, where[0], where[2])
            await self.changed()

    async def _rebirth(self, client: aiomqtt.Client, group: str, node: str) -> None:
        now = time.monotonic()
        if now - self._asked.get(node, -REBIRTH_EVERY_S) < REBIRTH_EVERY_S:
            return
        if len(self._asked) >= MAX_NODES:
            self._asked.clear()
        self._asked[node] = now
        payload = sparkplug.encode({sparkplug.REBIRTH: (sparkplug.DataType.BOOLEAN, True)}, 0)
        await client.publish(f"{sparkplug.NAMESPACE}/{group}/NCMD/{node}", payload, qos=0)
