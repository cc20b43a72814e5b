"""The plant link: one MQTT connection per station carrying the journal stream
(`station.uplink.stream`) and the Sparkplug B live state (`station.uplink.sparkplug`).

`Uplink` runs in its own task and never blocks the control loop: journal reads and
state file writes happen in its reader thread, publishing is asynchronous, and a
broker that is down, slow or refusing changes nothing at the station but a growing
backlog and alarms. It reconnects with capped exponential backoff and jitter, forever.

Sparkplug: the NDEATH is the MQTT Will (QoS 1) carrying the bdSeq of the NBIRTH sent on
that connection; bdSeq goes up by one per connect (0-255, kept in the state dir); seq
runs 0-255 from each NBIRTH; NCMD `Node Control/Rebirth`=true resends the NBIRTH with the
same bdSeq. With a primary host configured, live state waits for its STATE to say
online; when it goes offline the node publishes its NDEATH and waits again (the journal
stream is not interrupted, so the connection stays up).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from station.status import Status
from station.uplink import config as settings
from station.uplink import sparkplug
from station.uplink.backoff import reconnect_pause
from station.uplink.state import UplinkState
from station.uplink.stream import (
    AlarmCallback,
    JournalStream,
    NoteCallback,
    ReaderThread,
    wait_woken,
)

ALARM_LINK = "uplink:link"
_REFUSED_CREDENTIALS = {4, 5, 134, 135}
"""CONNACK codes of a refused user or password (MQTT 3.1.1 and 5)."""


def refusal_text(url: str, exc: BaseException) -> str:
    """The alarm text for a failed connection, saying what to check."""
    if isinstance(exc, aiomqtt.MqttCodeError):
        code = exc.rc.value if isinstance(exc.rc, ReasonCode) else exc.rc
        if code in _REFUSED_CREDENTIALS:
            return (
                f"plant broker {url} refused the station's credentials ({exc}): "
                "check uplink.username and uplink.password_file"
            )
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"plant link to {url}: cannot read {exc.filename}: {exc.strerror}"
    if isinstance(exc.__context__, ssl.SSLCertVerificationError):
        return (
            f"plant broker {url}: its certificate is not trusted "
            f"({exc.__context__.verify_message}): check uplink.ca_file"
        )
    return f"plant broker {url} unreachable: {exc}"


class _ClosingSSLSocket(ssl.SSLSocket):
    """paho leaves a socket whose TLS handshake failed open (a ResourceWarning at each
    refused attempt): this one closes itself then."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(conf: settings.Uplink) -> ssl.SSLContext:
    """Verify the broker against `ca_file` (host name included); present the client
    certificate if configured. Files are read at each connection attempt."""
    context = ssl.create_default_context(cafile=conf.ca_file)
    if conf.cert_file is not None:
        context.load_cert_chain(conf.cert_file, conf.key_file)
    context.sslsocket_class = _ClosingSSLSocket
    return context


STOP_RETRY_S = 1.0
"""How long `stop()` waits for the task before cancelling it again."""


class Uplink:
    """The station's plant link. `await start()` ... `await stop()`, or `async with`.

    `status_source` returns the station's status (Station.status); call `changed()` on
    every change of it and after every journal append (Station.on_change does both).
    `on_alarm(key, text)` raises (text) or clears (None) the alarms `uplink:link`,
    `uplink:backlog`, `uplink:ack`; `on_note(kind, data)` asks the runtime to journal
    an ignored ack (kind `uplink_ack_ignored`), once per cause.
    """

    def __init__(
        self,
        config: settings.Uplink,
        journal_path: Path,
        station_id: str,
        line_id: str,
        state_dir: Path,
        status_source: Callable[[], Status],
        on_alarm: AlarmCallback,
        on_note: NoteCallback,
    ) -> None:
        self.config = config
        self._address = settings.parse_broker_url(config.broker)
        self._station = station_id
        self._state_dir = state_dir
        self._status = status_source
        self._on_alarm = on_alarm
        self._thread = ReaderThread(f"uplink[{station_id}]")
        self._state: UplinkState | None = None
        self._journal_path = journal_path
        self._topic = f"{config.topic_prefix}/{line_id}/{station_id}/journal"
        self._node = sparkplug.EdgeNode(
            group=config.group_id or line_id, node=config.edge_node_id or station_id
        )
        self._on_note = on_note
        self._stream: JournalStream | None = None
        self._live_wake = asyncio.Event()
        self._rebirth = False
        self._host_online = asyncio.Event()
        self._host_timestamp = -1
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        """Set by `stop()`: the loops end by themselves even if a cancellation was lost."""
        self.connected = asyncio.Event()
        """Set while connected to the broker (for tests and diagnostics)."""

    @property
    def backlog(self) -> int:
        """Journal events the plant has not acknowledged yet (`Uplink/Backlog`)."""
        return 0 if self._stream is None else self._stream.backlog

    @property
    def acked_seq(self) -> int:
        return 0 if self._state is None else self._state.ack.seq

    def changed(self) -> None:
        """The station's status changed or an event was journaled."""
        if self._stream is not None:
            self._stream.new_events.set()
            self._stream.head_changed.set()
        self._live_wake.set()

    async def start(self) -> None:
        self._state = await self._thread.run(UplinkState.load, self._state_dir)
        self._stream = JournalStream(
            journal_path=self._journal_path,
            topic=self._topic,
            state=self._state,
            thread=self._thread,
            inflight=self.config.inflight,
            puback_timeout_s=2.0 * self.config.keepalive_s,
            backlog_alarm=self.config.backlog_alarm,
            on_alarm=self._on_alarm,
            on_note=self._on_note,
            on_backlog=self._live_wake.set,
        )
        await self._stream.open()
        self._task = asyncio.create_task(self._run(), name=f"uplink[{self._station}]")

    async def stop(self) -> None:
        """Stop the task, write the cursor, close the reader. Idempotent."""
        task, self._task = self._task, None
        self._closing = True
        self._live_wake.set()
        self._host_online.set()
        while task is not None and not task.done():
            # Python 3.11's asyncio.wait_for (inside aiomqtt's calls) loses a cancellation
            # that lands as its call completes; the loops also stop on `_closing`, and the
            # task is cancelled again until it has ended
            task.cancel()
            await asyncio.wait([task], timeout=STOP_RETRY_S)
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        if self._state is not None:
            await self._thread.run(self._state.save)
        self._thread.shutdown()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- the task ----------------------------------------------------------------

    async def _run(self) -> None:
        assert self._stream is not None and self._state is not None
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._stream.watch_head(), name="uplink-backlog")
            tasks.create_task(self._save_cursor(), name="uplink-cursor")
            tasks.create_task(self._connect_forever(), name="uplink-connection")

    async def _save_cursor(self) -> None:
        assert self._stream is not None and self._state is not None
        while True:
            await self._stream.cursor_moved.wait()
            self._stream.cursor_moved.clear()
            await self._thread.run(self._state.save)

    async def _connect_forever(self) -> None:
        assert self._state is not None
        failures = 0
        while not self._closing:
            self._state.bd_seq = (self._state.bd_seq + 1) % 256
            await self._thread.run(self._state.save)
            self._node.bd_seq = self._state.bd_seq
            try:
                # the password file and the CA are read off the loop (file I/O, TLS setup)
                password, tls = await self._thread.run(self._credentials)
                async with self._client(password, tls) as client:
                    failures = 0
                    self._on_alarm(ALARM_LINK, None)
                    self.connected.set()
                    await self._session(client)
            except* (aiomqtt.MqttError, OSError) as group:
                self._on_alarm(ALARM_LINK, refusal_text(self.config.broker, group.exceptions[0]))
            finally:
                self.connected.clear()
            await reconnect_pause(failures, self.config.backoff_min_s, self.config.backoff_max_s)
            failures = min(failures + 1, 32)

    def _credentials(self) -> tuple[str | None, ssl.SSLContext | None]:
        """Reader thread: the password (its file read at each attempt) and the TLS context."""
        conf = self.config
        password = None
        if conf.password_file is not None:
            password = Path(conf.password_file).read_text(encoding="utf-8").splitlines()[0]
        return password, tls_context(conf) if self._address.tls else None

    def _client(self, password: str | None, tls: ssl.SSLContext | None) -> aiomqtt.Client:
        """A client for one connection attempt."""
        conf = self.config
        client = aiomqtt.Client(
            self._address.host,
            self._address.port,
            username=conf.username,
            password=password,
            identifier=f"station.{self._node.group}.{self._node.node}",
            clean_session=True,
            keepalive=conf.keepalive_s,
            will=aiomqtt.Will(self._node.topic("NDEATH"), self._node.death(), qos=1),
            tls_context=tls,
            max_inflight_messages=conf.inflight,
        )
        client.pending_calls_threshold = conf.inflight + 16  # the window is ours, by design
        return client

    async def _session(self, client: aiomqtt.Client) -> None:
        assert self._stream is not None
        host = self.config.primary_host_id
        await client.subscribe(self._stream.ack_topic, qos=1)
        await client.subscribe(self._node.topic("NCMD"), qos=0)
        if host is None:
            self._host_online.set()
        else:
            self._host_online.clear()
            await client.subscribe(f"{sparkplug.NAMESPACE}/STATE/{host}", qos=1)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._receive(client), name="uplink-receive")
            tasks.create_task(self._stream.send(client), name="uplink-journal")
            tasks.create_task(self._live(client), name="uplink-live")

    async def _receive(self, client: aiomqtt.Client) -> None:
        assert self._stream is not None
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            if message.topic.matches(self._stream.ack_topic):
                await self._stream.on_ack(data, retained=message.retain)
            elif message.topic.matches(self._node.topic("NCMD")):
                if sparkplug.rebirth_requested(data):
                    self._rebirth = True
                    self._live_wake.set()
            else:
                self._on_host_state(data)

    def _on_host_state(self, data: bytes) -> None:
        """Primary host STATE (Sparkplug 3.0: JSON {online, timestamp}); older ones ignored."""
        try:
            state = json.loads(data)
            online, timestamp = bool(state["online"]), int(state["timestamp"])
        except (ValueError, KeyError, TypeError):
            return
        if timestamp < self._host_timestamp:
            return
        self._host_timestamp = timestamp
        if online:
            self._host_online.set()
        else:
            self._host_online.clear()
        self._live_wake.set()

    def _metrics(self) -> sparkplug.Metrics:
        return sparkplug.metrics_of(self._status(), self.backlog)

    async def _live(self, client: aiomqtt.Client) -> None:
        """NBIRTH, then NDATA on change (coalesced), rebirth on request."""
        node = self._node
        interval_s = self.config.ndata_interval_ms / 1000
        while True:
            await self._host_online.wait()
            if self._closing:  # `stop()` sets it to wake this loop: no birth then
                return
            self._rebirth = False
            await client.publish(node.topic("NBIRTH"), node.birth(self._metrics()), qos=0)
            while self._host_online.is_set() and not self._rebirth and not self._closing:
                await wait_woken(self._live_wake, timeout_s=3600)
                metrics = self._metrics()
                if node.needs_birth(metrics):
                    self._rebirth = True
                    continue
                data = node.data(metrics)
                if data is not None:
                    await client.publish(node.topic("NDATA"), data, qos=0)
                    await asyncio.sleep(interval_s)
            if not self._host_online.is_set():
                await client.publish(node.topic("NDEATH"), node.death(), qos=1)
