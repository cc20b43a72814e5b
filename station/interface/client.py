"""The console's side of the station's OPC UA interface: a small typed async client.

`StationClient.run()` keeps one session to the station's server and reports what it
gets through two callbacks: `on_snapshot(Snapshot)` (the status and the recent
journal events, each time either changes) and `on_link(Link)` (connected as whom,
or disconnected with the reason and the attempt count). `call(method, *args)` calls
one of the server's methods and returns its `Result`, or raises `CallRefused` with
the station's reason.

Design
- Supervision is `hal.link.LinkSupervisor`, as for every device link: one named
  task, a fresh asyncua `Client` per attempt, capped exponential backoff with
  jitter. A runtime that restarts is therefore reconnected by itself; meanwhile
  the console is told it is disconnected, and why.
- A loss is noticed by asyncua's health check (a closed socket at once, a silent
  server within `stale_after_s`), which ends the session.
- What the console shows comes from two nodes only, `Station.Status.Json` and
  `Station.Events.Recent`: each holds a whole snapshot, so a subscription that
  coalesces changes (queue size 1) never leaves the console with half an update.
- Credentials the server refuses end `run()` with `LoginRefused` at once: retrying
  a wrong password would only lock the user out (`station.interface.users`).
- Security: None by default (the password is still encrypted with the server's
  key when the server offers Basic256Sha256), or Basic256Sha256 Sign /
  SignAndEncrypt with the console's certificate; the server's certificate must
  then be in `trust_dir` (`hal.opcua.certs.ServerCertificateValidator`).

Boundary: asyncua stays inside this module; the console sees `Snapshot`, `Link`
and the exceptions below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent, Subscription
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.uaerrors import UaStatusCodeError
from cryptography.hazmat.primitives import serialization

from hal.config import LinkSettings
from hal.link import LinkSupervisor
from hal.opcua import certs
from station import interface
from station.interface.logins import ANONYMOUS
from station.status import Status

log = structlog.get_logger(__name__)

LINK = LinkSettings(
    connect_timeout_s=5.0,
    request_timeout_s=5.0,
    backoff_initial_s=0.5,
    backoff_max_s=5.0,
    stale_after_s=2.0,
)
"""Timing of the console's link: a restarted runtime is found within 5 s."""

PUBLISHING_MS = 50
"""Subscription publishing interval (docs/libraries.md: about 30 ms latency at 50 ms)."""

_LOGIN_REFUSALS = frozenset(
    {
        "BadUserAccessDenied",
        "BadIdentityTokenInvalid",
        "BadIdentityTokenRejected",
    }
)


@dataclass(frozen=True)
class Snapshot:
    """What the station shows: `Station.status()` and its recent journal events."""

    status: Status
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Link:
    """The connection as the console shows it."""

    endpoint: str
    connected: bool
    user: str = ANONYMOUS
    role: str = ANONYMOUS
    reason: str = ""
    """Why it is not connected ('connecting' before the first attempt)."""
    attempt: int = 0
    """Connection attempts that failed since the session was lost (or since the start)."""
    since: str = ""
    """Wall time (HH:MM:SS) since when it is connected, or disconnected."""


@dataclass(frozen=True)
class ClientSecurity:
    """Basic256Sha256 with the console's certificate; servers trusted from `trust_dir`."""

    mode: Literal["Sign", "SignAndEncrypt"]
    certificate: Path
    private_key: Path
    trust_dir: Path


class LoginRefused(Exception):
    """The server refused the user name and password."""


class NotConnected(Exception):
    """A call while there is no session; the message says why."""


class CallRefused(Exception):
    """A method call the station refused (or could not take), with its reason."""

    def __init__(self, method: str, status: str, message: str) -> None:
        super().__init__(f"{method}: {message}" if message else f"{method}: {status}")
        self.method = method
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


class StationClient:
    """See the module docstring."""

    def __init__(
        self,
        endpoint: str,
        user: str | None = None,
        password: str | None = None,
        *,
        on_snapshot: Callable[[Snapshot], None],
        on_link: Callable[[Link], None],
        security: ClientSecurity | None = None,
        settings: LinkSettings = LINK,
    ) -> None:
        self.endpoint = endpoint
        self.user = user
        self.password = password
        self.security = security
        self.settings = settings
        self._on_snapshot = on_snapshot
        self._on_link = on_link
        self._client: Client | None = None
        self._ns = 0
        self._status: Status | None = None
        self._events: list[dict[str, Any]] = []
        self._refused: asyncio.Future[str] | None = None
        self._failures = 0
        """Attempts that failed since the last good session."""
        self.link = Link(endpoint, False, reason="connecting", since=_now())

    # --- supervision ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and keep connected until cancelled; LoginRefused ends it."""
        self._refused = asyncio.get_running_loop().create_future()
        supervisor = LinkSupervisor(f"console:{self.endpoint}", self.settings, self._session)
        self._report(self.link)
        supervisor.start()
        try:
            message = await self._refused
        finally:
            await supervisor.stop()
        raise LoginRefused(message)

    async def _session(self, link: LinkSupervisor) -> None:
        try:
            client = await self._connect()
        except UaStatusCodeError as exc:
            name = ua.StatusCode(ua.UInt32(exc.code)).name
            if name in _LOGIN_REFUSALS and self.user is not None:
                message = f"login refused for {self.user}: wrong user or password ({name})"
                self._report_failure(message)
                if self._refused is not None and not self._refused.done():
                    self._refused.set_result(message)
                raise LoginRefused(message) from exc
            reason = name
            if name == "BadCertificateUntrusted" and self.security is not None:
                reason += (
                    f": the station does not trust this console's certificate; copy "
                    f"{self.security.certificate} into the station's pki trusted/ folder"
                )
            self._report_failure(reason)
            raise
        except Exception as exc:
            self._report_failure(f"{type(exc).__name__}: {exc}")
            raise
        lost: list[str] = []

        async def on_lost(exc: Exception) -> None:
            lost.append(f"{type(exc).__name__}: {exc}")

        client.connection_lost_callback = on_lost
        try:
            self._ns = await client.get_namespace_index(interface.NAMESPACE_URI)
            user, role = await self._call(client, "WhoAmI")
            subscription = await client.create_subscription(PUBLISHING_MS, None)
            nodes = [self._node(client, n) for n in (interface.STATUS_JSON, interface.EVENTS_JSON)]
            await subscription.subscribe_data_change(nodes, queuesize=1)
            self._client = client
            link.mark_up()
            self._report(Link(self.endpoint, True, str(user), str(role), since=_now()))
            ended = await self._serve(subscription)
            reason = f"connection lost ({lost[0]})" if lost else ended
        except Exception as exc:
            self._report_loss(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._client = None
            await self._close(client)
        self._report_loss(reason)
        raise ConnectionError(reason)

    async def _connect(self) -> Client:
        client = Client(
            self.endpoint,
            timeout=self.settings.request_timeout_s,
            watchdog_intervall=self.settings.stale_after_s / 2,
        )
        client.name = client.description = "station console"
        if self.user is not None:
            client.set_user(self.user)
            client.set_password(self.password or "")
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                if self.security is not None:
                    await self._set_security(client, self.security)
                await client.connect()
        except BaseException:
            client.disconnect_socket()
            raise
        return client

    async def _set_security(self, client: Client, security: ClientSecurity) -> None:
        validator = certs.ServerCertificateValidator("station", self.endpoint, security.trust_dir)
        await validator.reload()
        client.certificate_validator = validator
        certificate = certs.load_certificate(security.certificate)
        key = certs.load_private_key(security.private_key)
        client.application_uri = certs.application_uri(certificate)
        # The server's certificate comes from GetEndpoints; CreateSession runs the
        # validator on it before the password is sent.
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=certs.der(certificate),
            private_key=key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            mode=getattr(ua.MessageSecurityMode, security.mode),
        )

    async def _serve(self, subscription: Subscription) -> str:
        """Deliver snapshots until the subscription ends (asyncua ends it with a bad
        status when the connection is lost); why it ended."""
        async for event in subscription:
            if isinstance(event, StatusChangeEvent):
                status = event.notification.Status
                if not status.is_good():
                    return f"subscription ended: {status.name}"
            elif isinstance(event, DataChangeEvent):
                self._take(str(event.node.nodeid.Identifier), event.value)
        return "subscription closed"

    def _take(self, node_id: str, value: str) -> None:
        try:
            data = json.loads(value)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{node_id}: not JSON ({exc}): {value!r:.80}") from exc
        if node_id == interface.STATUS_JSON:
            self._status = data
        elif node_id == interface.EVENTS_JSON:
            self._events = data
        if self._status is not None:
            self._on_snapshot(Snapshot(self._status, self._events))

    @staticmethod
    async def _close(client: Client) -> None:
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await client.disconnect()

    def _report(self, link: Link) -> None:
        self.link = link
        self._on_link(link)

    def _report_loss(self, reason: str) -> None:
        """The session ended: disconnected from now on, no attempt failed yet."""
        self._failures = 0
        self._report(Link(self.endpoint, False, reason=reason, since=_now()))

    def _report_failure(self, reason: str) -> None:
        """A connection attempt failed: disconnected since the loss (or the start)."""
        self._failures += 1
        since = self.link.since if not self.link.connected else _now()
        link = Link(self.endpoint, False, reason=reason, attempt=self._failures, since=since)
        self._report(link)

    # --- calls -------------------------------------------------------------------------------

    def _node(self, client: Client, node_id: str) -> Any:
        return client.get_node(ua.NodeId(ua.String(node_id), ua.Int16(self._ns)))

    async def call(self, method: str, *args: str | int) -> str:
        """Call a method of the station; its Result. CallRefused with the station's
        reason, NotConnected when there is no session."""
        client = self._client
        if client is None:
            raise NotConnected(f"not connected to the station ({self.link.reason})")
        outputs = await self._call(client, method, *args)
        return str(outputs[0]) if outputs else ""

    async def _call(self, client: Client, method: str, *args: str | int) -> list[Any]:
        parent = interface.method_parent(method)
        request = ua.CallMethodRequest()
        request.ObjectId = ua.NodeId(ua.String(parent), ua.Int16(self._ns))
        request.MethodId = ua.NodeId(ua.String(f"{parent}.{method}"), ua.Int16(self._ns))
        request.InputArguments = [
            ua.Variant(a, ua.VariantType.Int32 if isinstance(a, int) else ua.VariantType.String)
            for a in args
        ]
        try:
            (result,) = await client.uaclient.call([request])
        except UaStatusCodeError as exc:
            raise CallRefused(method, ua.StatusCode(ua.UInt32(exc.code)).name, str(exc)) from exc
        outputs = [v.Value for v in result.OutputArguments or []]
        if not result.StatusCode.is_good():
            message = str(outputs[0]) if outputs else ""
            raise CallRefused(method, result.StatusCode.name, message)
        return outputs
