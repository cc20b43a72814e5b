"""OPC UA client driver: one supervised session per server (asyncua 2.1).

Design
- One `hal.link.LinkSupervisor` task per server runs `_session`: a fresh
  asyncua `Client` per attempt (no state survives from a broken one), the
  security from config, `connect()` within `link.connect_timeout_s`, then
  the subscription is built, and the link is marked up. asyncua's own
  reconnect (`auto_reconnect`) stays off: the supervisor's capped backoff
  with jitter is the one retry policy of the station.
- Liveness: asyncua's health task probes the server state every
  `stale_after_s / 2` with the same time as its timeout, and notices a closed
  socket at once; either loss reaches `_session` through
  `connection_lost_callback`, which marks the link down before the client is
  torn down. A server that stops answering is therefore noticed within
  `link.stale_after_s`.
- Subscriptions: every Variable among the configured nodes is monitored,
  with `queue_size` so that changes between two publishes (a verdict cleared
  and set again) are queued by the server, not coalesced. After every
  (re)connect the values are read first and then subscribed: a value that
  changed while the link was down is delivered as a change (docs/faults.md row 6:
  session recreated, subscriptions rebuilt, values re-read), and the
  monitored item's initial notification, equal to what was read, is not
  delivered twice. A value read with a bad status (a sensor without a reading)
  is not a session failure: `read()` raises `BadStatus` for it.
- `changes(node)`: each consumer has its own queue, registered when
  `changes()` is called, and fed in order by the session task across
  reconnects. A consumer that falls more than `CONSUMER_QUEUE` changes
  behind gets a DeviceError, never a silent gap; `stop()` ends every stream.
- Security: policy, mode, client certificate and key, user and password
  file come from config; the server certificate is checked against
  `trust_dir` in CreateSession (`hal.opcua.certs.ServerCertificateValidator`)
  before the password is sent. An untrusted or changed certificate raises
  `UntrustedCertificate`: the link stays down with that reason, an audit line
  is logged, and every retry refuses it again until an engineer trusts it.
- Requests (read, write, call) run on the session's client concurrently with
  the supervisor; each has `link.request_timeout_s` (asyncua's per-request
  timeout, on the loop's monotonic clock). Reads are retried `link.retries`
  times after a timeout; writes and method calls are not (an inspection
  started twice is not the same as once).

Boundary: the station sees `hal.interfaces.OpcUaDevice` and `hal.errors`
only; asyncua types do not leave this module except the values read.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.ua_binary import variant_to_binary
from asyncua.ua.uaerrors import UaError, UaStatusCodeError, UaStringParsingError

from hal.config import OpcUaDeviceConfig
from hal.errors import BadStatus, DeviceError, LinkDown, RequestTimeout, UntrustedCertificate
from hal.link import LinkSupervisor
from hal.opcua import certs

log = structlog.get_logger(__name__)

T = TypeVar("T")

CONSUMER_QUEUE = 1024
"""Changes one `changes()` consumer may have pending before its stream fails."""

SESSION_TIMEOUT_MS = 600_000
"""Requested session lifetime without traffic; asyncua servers cap it at 600 s."""


@dataclass(frozen=True)
class _Change:
    node_id: ua.NodeId
    value: Any


@dataclass(frozen=True)
class _Lost:
    reason: str


class _Notifications:
    """asyncua subscription handler: every notification goes to the session's inbox,
    in the order asyncua dispatches them."""

    def __init__(self, inbox: asyncio.Queue[_Change | _Lost]) -> None:
        self._inbox = inbox

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self._inbox.put_nowait(_Change(node.nodeid, val))

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        if not status.Status.is_good():
            self._inbox.put_nowait(_Lost(f"subscription status {status.Status.name}"))


_GAP = object()
_END = object()


class ChangeStream:
    """What `changes(node)` returns: an async iterator of the node's values, with
    `aclose()` to unregister at once (dropping it unregisters it too)."""

    def __init__(self, device: str, node: str, registry: weakref.WeakSet[ChangeStream]) -> None:
        self.device = device
        self.node = node
        self._registry = registry
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._broken = False
        registry.add(self)

    def offer(self, value: Any) -> None:
        if self._broken:
            return
        if self._queue.qsize() >= CONSUMER_QUEUE:
            self._broken = True
            self._queue.put_nowait(_GAP)
        else:
            self._queue.put_nowait(value)

    def end(self) -> None:
        self._queue.put_nowait(_END)

    def __aiter__(self) -> ChangeStream:
        return self

    async def __anext__(self) -> Any:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        if item is _GAP:
            raise DeviceError(
                self.device,
                f"changes of {self.node}: consumer fell {CONSUMER_QUEUE} changes behind; "
                "later changes were not kept",
            )
        return item

    async def aclose(self) -> None:
        self._registry.discard(self)
        self.end()


class OpcUaClientDevice:
    """A device the station is an OPC UA client of (satisfies `hal.interfaces.OpcUaDevice`)."""

    def __init__(self, name: str, config: OpcUaDeviceConfig) -> None:
        self.name = name
        self.config = config
        self.link = LinkSupervisor(name, config.link, self._session)
        self.last_error: Exception | None = None
        """The error that ended the last connection attempt or session (None before any)."""
        self._node_ids: dict[str, ua.NodeId] = {}
        for node, text in config.nodes.items():
            try:
                self._node_ids[node] = ua.NodeId.from_string(text)
            except UaStringParsingError as exc:
                raise ValueError(f"{name}: nodes.{node}: not an OPC UA node id ({text!r})") from exc
        self._client: Client | None = None
        self._streams: dict[str, weakref.WeakSet[ChangeStream]] = {
            n: weakref.WeakSet() for n in config.nodes
        }
        self._last: dict[str, Any] = {}
        self._variant_types: dict[str, ua.VariantType] = {}
        self._methods: dict[tuple[str, str], ua.NodeId] = {}
        self._error_waiters: list[asyncio.Future[Exception]] = []

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.link.start()

    async def stop(self) -> None:
        await self.link.stop()
        for streams in self._streams.values():
            for stream in list(streams):
                stream.end()
            streams.clear()

    async def next_error(self, timeout: float | None = None) -> Exception:
        """Wait for the next failed connection attempt or lost session and return its
        error (an `UntrustedCertificate` refusal, a refused login, a timeout...):
        the alarm path for a link that never came up. TimeoutError after `timeout`."""
        waiter: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()
        self._error_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        finally:
            if waiter in self._error_waiters:
                self._error_waiters.remove(waiter)

    # --- OpcUaDevice ---------------------------------------------------------------------

    async def read(self, node: str) -> Any:
        node_id = self._node_id(node)

        async def read_value(client: Client) -> Any:
            [value] = await client.read_attributes([client.get_node(node_id)])
            return self._value(f"read {node}", value)

        return await self._request(f"read {node}", read_value, self.config.link.retries)

    async def write(self, node: str, value: Any) -> None:
        node_id = self._node_id(node)

        async def write_value(client: Client) -> None:
            target = client.get_node(node_id)
            if node not in self._variant_types:
                self._variant_types[node] = await target.read_data_type_as_variant_type()
            variant_type = self._variant_types[node]
            variant = ua.Variant(value, variant_type)
            try:
                variant_to_binary(variant)  # bad input fails here, before anything is sent
            except UaError as exc:
                raise DeviceError(self.name, f"write {node}: {exc}") from exc
            await target.write_value(ua.DataValue(variant))

        await self._request(f"write {node}", write_value, retries=0)

    def changes(self, node: str) -> ChangeStream:
        self._node_id(node)
        return ChangeStream(self.name, node, self._streams[node])

    async def call(self, node: str, method: str, *args: Any) -> Any:
        node_id = self._node_id(node)

        async def call_method(client: Client) -> Any:
            target = client.get_node(node_id)
            key = (node, method)
            if key not in self._methods:
                self._methods[key] = await self._find_method(target, node, method)
            return await target.call_method(self._methods[key], *args)

        return await self._request(f"call {node}.{method}", call_method, retries=0)

    # --- requests ------------------------------------------------------------------------

    def _node_id(self, node: str) -> ua.NodeId:
        try:
            return self._node_ids[node]
        except KeyError:
            known = ", ".join(self._node_ids)
            raise DeviceError(
                self.name, f"no node {node!r} in the config (nodes: {known})"
            ) from None

    def _check(self, what: str, status: ua.StatusCode | None) -> None:
        if status is not None and not status.is_good():
            raise BadStatus(self.name, f"{what}: {status.name}")

    def _value(self, what: str, data: ua.DataValue) -> Any:
        self._check(what, data.StatusCode)
        return None if data.Value is None else data.Value.Value

    async def _request(self, what: str, op: Callable[[Client], Awaitable[T]], retries: int) -> T:
        attempt = 0
        while True:
            client = self._client
            if client is None or not self.link.state.up:
                raise LinkDown(self.name, f"{what}: link down ({self.link.state.reason})") from (
                    self.last_error
                )
            try:
                return await op(client)
            except TimeoutError:
                if attempt >= retries:
                    raise RequestTimeout(
                        self.name,
                        f"{what}: no reply within {self.config.link.request_timeout_s} s "
                        f"({attempt + 1} attempt(s))",
                    ) from None
                attempt += 1
            except UaStatusCodeError as exc:
                raise DeviceError(
                    self.name, f"{what}: {ua.StatusCode(ua.UInt32(exc.code)).name}"
                ) from exc
            except (ConnectionError, OSError) as exc:
                raise LinkDown(self.name, f"{what}: {type(exc).__name__}: {exc}") from exc

    async def _find_method(self, target: Node, node: str, method: str) -> ua.NodeId:
        children = await target.get_children_descriptions(
            refs=ObjectIds.HasComponent, nodeclassmask=ua.NodeClass.Method
        )
        for child in children:
            if child.BrowseName.Name == method:
                node_id: ua.NodeId = child.NodeId
                return node_id
        found = ", ".join(child.BrowseName.Name for child in children) or "none"
        raise DeviceError(self.name, f"node {node} has no method {method!r} (methods: {found})")

    # --- the session (run by the link supervisor) ----------------------------------------

    async def _session(self, link: LinkSupervisor) -> None:
        try:
            await self._serve(link)
        except Exception as exc:
            # A refusal can be masked by what asyncua raises while it tears the half-open
            # connection down (a closed socket): the refusal is what the engineer needs.
            error = _refusal_in(exc) or exc
            self.last_error = error
            for waiter in self._error_waiters:
                if not waiter.done():
                    waiter.set_result(error)
            self._error_waiters.clear()
            if error is not exc:
                raise error from exc
            raise

    async def _serve(self, link: LinkSupervisor) -> None:
        inbox: asyncio.Queue[_Change | _Lost] = asyncio.Queue()

        async def on_lost(exc: Exception) -> None:
            # asyncua's health task: a closed socket, or no answer to its server-state probe.
            detail = str(exc) or "no answer to the server-state probe"
            inbox.put_nowait(_Lost(f"{type(exc).__name__}: {detail}"))

        client = await self._connect()
        try:
            client.connection_lost_callback = on_lost
            self._variant_types.clear()
            self._methods.clear()
            await self._subscribe(client, inbox)
            self._client = client
            link.mark_up()
            log.info(
                "opcua_session_up",
                device=self.name,
                url=self.config.url,
                policy=self.config.security.policy,
                mode=self.config.security.mode,
                user=self.config.security.user,
            )
            while True:
                event = await inbox.get()
                if isinstance(event, _Lost):
                    lost = LinkDown(self.name, f"session lost: {event.reason}")
                    link.mark_down(f"{type(lost).__name__}: {lost}")
                    raise lost
                for node in self._names_of(event.node_id):
                    self._deliver(node, event.value)
        finally:
            self._client = None
            await self._close(client)

    async def _connect(self) -> Client:
        config, security = self.config, self.config.security
        client = Client(
            config.url,
            timeout=config.link.request_timeout_s,
            watchdog_intervall=config.link.stale_after_s / 2,
        )
        client.name = client.description = f"station device {self.name}"
        client.session_timeout = SESSION_TIMEOUT_MS
        validator: certs.ServerCertificateValidator | None = None
        try:
            if security.trust_dir is not None:
                validator = certs.ServerCertificateValidator(
                    self.name, config.url, Path(security.trust_dir)
                )
                await validator.reload()
                client.certificate_validator = validator
            if security.user is not None and security.password_file is not None:
                client.set_user(security.user)
                client.set_password(self._password(Path(security.password_file)))
            async with asyncio.timeout(config.link.connect_timeout_s):
                if security.policy != "None":
                    await self._set_security(client)
                await client.connect()
        except TimeoutError:
            client.disconnect_socket()
            if validator is not None and validator.refused is not None:
                raise validator.refused from None
            raise RequestTimeout(
                self.name,
                f"connect {config.url}: no session within {config.link.connect_timeout_s} s",
            ) from None
        except BaseException as exc:
            client.disconnect_socket()
            # asyncua may report a refused certificate as a timeout or a closed
            # connection: the validator's own word is what the engineer needs
            if (
                validator is not None
                and validator.refused is not None
                and validator.refused is not exc
            ):
                raise validator.refused from exc
            raise
        return client

    async def _set_security(self, client: Client) -> None:
        security = self.config.security
        assert security.certificate is not None and security.private_key is not None
        assert security.mode != "None"
        try:
            await certs.secure_client(
                client, Path(security.certificate), Path(security.private_key), security.mode
            )
        except ValueError as exc:
            raise DeviceError(self.name, f"security: {exc}") from exc

    def _password(self, path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise DeviceError(self.name, f"password_file {path}: {exc.strerror or exc}") from exc

    async def _subscribe(self, client: Client, inbox: asyncio.Queue[_Change | _Lost]) -> None:
        names = list(self._node_ids)
        nodes = [client.get_node(self._node_ids[n]) for n in names]
        classes = await client.read_attributes(nodes, AttributeIds.NodeClass)
        variables: list[tuple[str, Node]] = []
        for name, node, node_class in zip(names, nodes, classes, strict=True):
            what = f"node {name} ({node.nodeid.to_string()})"
            if self._value(what, node_class) == ua.NodeClass.Variable:
                variables.append((name, node))
        if not variables:
            return
        # Read before subscribing: see the module docstring.
        values = await client.read_attributes([node for _, node in variables])
        for (name, _), value in zip(variables, values, strict=True):
            if value.StatusCode is None or value.StatusCode.is_good():  # else: none known yet
                self._deliver(name, self._value(f"read {name}", value))
        subscription = await client.create_subscription(
            self._subscription_parameters(), _Notifications(inbox)
        )
        results = await subscription.subscribe_data_change(
            [node for _, node in variables],
            queuesize=self.config.queue_size,
            sampling_interval=ua.Double(0.0),
        )
        for (name, _), result in zip(variables, results, strict=True):
            if isinstance(result, ua.StatusCode):
                self._check(f"monitor {name}", result)

    def _subscription_parameters(self) -> ua.CreateSubscriptionParameters:
        interval_ms = self.config.publishing_interval_ms
        # With nothing to report the server still publishes (a keep-alive) after
        # this many intervals: about every stale_after_s / 2. It drops the
        # subscription after three keep-alives without a publish request from us,
        # by when the link has been marked down and a new session is on its way.
        keep_alive = max(1, math.ceil(self.config.link.stale_after_s * 500 / max(interval_ms, 1)))
        return ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=ua.Double(interval_ms),
            RequestedLifetimeCount=ua.UInt32(3 * keep_alive),
            RequestedMaxKeepAliveCount=ua.UInt32(keep_alive),
            MaxNotificationsPerPublish=ua.UInt32(0),
            PublishingEnabled=True,
            Priority=ua.Byte(0),
        )

    def _names_of(self, node_id: ua.NodeId) -> list[str]:
        return [name for name, known in self._node_ids.items() if known == node_id]

    def _deliver(self, node: str, value: Any) -> None:
        """Pass a value on to the consumers if it differs from the last one known."""
        known = node in self._last
        previous = self._last.get(node)
        self._last[node] = value
        if known and value != previous:
            for stream in list(self._streams[node]):
                stream.offer(value)

    async def _close(self, client: Client) -> None:
        """Close the session and channel (bounded by the request timeout: the server
        may be the thing that died), and always the socket."""
        try:
            async with asyncio.timeout(self.config.link.request_timeout_s):
                await client.disconnect()
        except TimeoutError:
            log.warning("opcua_disconnect_timeout", device=self.name, url=self.config.url)
        finally:
            client.disconnect_socket()


def _refusal_in(exc: BaseException) -> UntrustedCertificate | None:
    """The certificate refusal among an exception's causes and contexts, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, UntrustedCertificate):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
