"""The station's OPC UA server: its status for SCADA and the console, its commands as methods.

Design
- One `StationServer` per station process, in the runtime's event loop. It reads the
  Station through its public API only (`status()`, the journal's `events()`) and acts
  only through the Station's commands, which check the caller's role and journal every
  call, refused or not (`station.runtime`, `station.roles`). The server adds the
  caller's identity and nothing else.
- Publishing never blocks the station: `Station.on_change` only sets a flag; one named
  task (`opcua-publish:<station>`) takes the status snapshot, compares it with what it
  published last and writes the values that changed, so a burst of changes costs one
  pass. It also samples every `refresh_s` (0.25 s) for what changes without a
  notification (PLC inputs, which the drivers poll). New journal events are read once
  per pass that follows a change.
- Who calls: asyncua does not hand the session to a method. The permission ruleset,
  which asyncua consults with the session's user before every request of a
  connection, in the same task that then runs the request, records that user in a
  context variable; the method reads it. A session with no credentials is the user
  `anonymous` with the role `anonymous`, which no action allows: its calls reach the
  Station, which refuses and journals them (FAULTS.md rows 29-30).
- Start-up: asyncua's `Server.init()` builds the standard address space in about 1-1.5 s
  (stalling this loop for up to ~0.1 s at a time); `start()` logs how long it took.

Address space (namespace `urn:station-controller:station`, string node ids)::

    Objects/
      <station name>          ns;s=Station      after PackML (OPC 30050)
        TagID Operation Line  String            who this station is
        PackMLVersion         String            "OPC 30050 base (subset)"
        BaseStateMachine/                       the PackML state machine
          CurrentState        LocalizedText     "Execute", "Held" ...
          Start() Stop() Hold() Unhold() Reset() Clear() Abort() Suspend() Unsuspend()
          SetUnitMode(Mode)                     production, manual, maintenance
        Status/
          StateCurrent        Int32             PackML state number (6 Execute, 11 Held ...)
          UnitModeCurrent     Int32             1 production, 2 maintenance, 3 manual
          UnitModeName        String
          EquipmentBlocked    Boolean           the vehicle cannot leave (next station)
          EquipmentStarved    Boolean           running with no vehicle
          Json                String            the whole status snapshot, JSON
        Admin/
          ProdProcessedCount  Int32             cycles ended
          ProdDefectiveCount  Int32             failed
          ProdPassedCount ProdReworkCount ProdHeldCount   Int32
          AlarmExtent         Int32             alarms on the list
          Alarm               String[]          "P<priority> <key>: <text>", most urgent first
        Vehicle/
          VIN Model           String            "" when no vehicle
          Held                String            why it is held, "" if not
          RouteDone           String[]          operations done
          RouteProgress       String            "5/10"
        Step/
          Index Count         Int32             0-based index of the current step, of Count
          Name                String
          Progress            Double            0..1 within the step
        Prompt/                                 the question open to a person
          Kind Text           String            checklist, verdict, manual_vin, confirm_step; ""
          Options             String[]
          Item                Int32
        Alarms/
          Active Unacknowledged   String[]      alarm keys
          Json                String            every alarm with its fields, JSON
        IO/
          Inputs/<name> Outputs/<name>  Int32   Bad_NoCommunication while the link is down
          Links/<name>        Boolean           device link up
        Events/
          Recent              String            the last 50 journal events, JSON
        Commands/
          AcknowledgeAlarm(Key)  ConfirmChecklistItem()  EnterVerdict(Verdict: pass|fail)
          ManualVin(Vin)  ConfirmStep()  Override(What, Reason)
          Dispose(Action: retry|remove, Reason)  ForceOutput(Name, Value: Int32)
          WhoAmI() -> (User, Role)

Every method but WhoAmI returns one String, `Result` (e.g. the new state). A refused
call ends with a Bad status and still returns the reason in `Result`:
Bad_UserAccessDenied (the role may not), Bad_InvalidState (not now: no such prompt,
illegal command), Bad_InvalidArgument / Bad_ArgumentsMissing / Bad_TooManyArguments,
Bad_InternalError (logged). Nothing is writable: state changes only through methods.

Security
- Endpoints: exactly the policies the station file's `interface.security` lists, among
  None, Basic256Sha256 Sign, Basic256Sha256 SignAndEncrypt. The server's certificate
  and key are generated on first start into `<pki_dir>/own/` (application URI
  `urn:<host>:station-controller:<station>`) and kept.
- A client's application certificate (Sign, SignAndEncrypt) is accepted only when it
  is in `<pki_dir>/trusted/`, read again at every session; a refused one is copied to
  `<pki_dir>/rejected/` with an audit log line, for an engineer to move into trusted/.
- Users: anonymous (browse, read, subscribe) or user name and password, checked
  against the users file (`station.interface.users`). On a None endpoint the password
  is still encrypted with the server's key when a Basic256Sha256 endpoint is offered;
  when only None is offered it crosses the wire in clear (a warning at start): keep
  None for localhost. A refused login is journaled (`login_refused`).
- Binding: the endpoint's host, 127.0.0.1 by default; set the IPC's address in the
  station file to serve the plant network.

Starting from `station run`::

    async with serve(station, config.model.interface, endpoint=args.opcua,
                     pki_dir=state_dir / "pki") as server:
        ...   # server.endpoint, server.startup_s
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlparse

import structlog
from asyncua import ua
from asyncua.common.node import Node
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import ADMIN_TYPES, SimpleRoleRuleset, User, UserRole
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from cryptography import x509

from hal.opcua.certs import (
    application_uri,
    der,
    load_certificate,
    peer_validator,
    thumbprint,
    write_certificate,
)
from station import interface
from station.config.models import Interface
from station.fsm import IllegalCommand, State, UnitMode
from station.interface.users import ANONYMOUS, Authenticator
from station.journal import Event
from station.roles import NotAuthorized
from station.runtime import Refused, Station
from station.status import AlarmStatus, PromptStatus, Status

log = structlog.get_logger(__name__)

REFRESH_S = 0.25
"""Sampling period for values that change without a notification (PLC inputs)."""

RECENT_EVENTS = 50
"""Journal events kept in Events/Recent."""

PACKML_VERSION = "OPC 30050 base (subset)"

PACKML_STATE_NUMBERS: dict[State, int] = {
    State.CLEARING: 1,
    State.STOPPED: 2,
    State.STARTING: 3,
    State.IDLE: 4,
    State.SUSPENDED: 5,
    State.EXECUTE: 6,
    State.STOPPING: 7,
    State.ABORTING: 8,
    State.ABORTED: 9,
    State.HOLDING: 10,
    State.HELD: 11,
    State.UNHOLDING: 12,
    State.SUSPENDING: 13,
    State.UNSUSPENDING: 14,
    State.RESETTING: 15,
    State.COMPLETING: 16,
    State.COMPLETE: 17,
}
"""PackML state numbers (ISA-TR88.00.02, OPC 30050 StateCurrent)."""

PACKML_UNIT_MODES: dict[UnitMode, int] = {
    UnitMode.PRODUCTION: 1,
    UnitMode.MAINTENANCE: 2,
    UnitMode.MANUAL: 3,
}
"""PackML unit mode numbers (UnitModeCurrent)."""

SECURITY_POLICIES: dict[str, ua.SecurityPolicyType] = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Basic256Sha256_Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "Basic256Sha256_SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}
"""The station file's `interface.security` names -> asyncua's endpoint policies."""

PACKML_COMMANDS = tuple(m for m in interface.PACKML_METHODS if m != "SetUnitMode")
"""The state machine's methods that are PackML commands (`Station.command`)."""

V = ua.VariantType

# --- who calls --------------------------------------------------------------------------


@dataclass
class SessionUser(User):
    """An authenticated session: asyncua's User with the station role."""

    station_role: str = ""


_CALLER: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_caller", default=None)
"""The user of the request being processed (set by `_CallerRules`)."""


def caller() -> tuple[str, str]:
    """(user, role) of the session whose request is being processed."""
    user = _CALLER.get()
    if isinstance(user, SessionUser) and user.name:
        return user.name, user.station_role
    return ANONYMOUS, ANONYMOUS


_REFUSED_TYPES = frozenset(
    ua.NodeId(ua.Int32(t)) for t in (*ADMIN_TYPES, ObjectIds.WriteRequest_Encoding_DefaultBinary)
)


class _CallerRules(SimpleRoleRuleset):
    """asyncua's check before each request of a session: records the caller for the
    methods; refuses writes and address-space changes to everybody (nothing is
    writable; state changes go through methods, which the Station authorizes)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        _CALLER.set(user)
        return action_type_id not in _REFUSED_TYPES


class _Users(UserManager):
    """asyncua's user manager over the users file."""

    def __init__(self, authenticator: Authenticator, on_refused: Callable[[str, str], None]):
        self.authenticator = authenticator
        self.on_refused = on_refused

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        # `certificate` is the client application's (the secure channel's), not a user
        # token: X509 user tokens are not offered, so no user name means anonymous.
        if username is None:
            return User(role=UserRole.Anonymous)
        problem = self.authenticator.reload()
        if problem is not None:
            log.error("users_file_invalid", errors=[str(i) for i in problem.issues])
        role = self.authenticator.check(username, password or "")
        if role is None:
            locked = self.authenticator.locked(username)
            self.on_refused(
                username, "locked after wrong passwords" if locked else "wrong user or password"
            )
            return None
        log.info("opcua_login", user=username, role=str(role), audit=True)
        return SessionUser(role=UserRole.User, name=username, station_role=str(role))


class _ClientCertificates:
    """The server's check of a client's application certificate against trusted/."""

    def __init__(self, pki_dir: Path) -> None:
        self.trusted = pki_dir / "trusted"
        self.rejected = pki_dir / "rejected"

    async def __call__(
        self, certificate: x509.Certificate, description: ua.ApplicationDescription
    ) -> None:
        validator = await peer_validator(self.trusted, "client")
        try:
            await validator.validate(certificate, description)
        except ServiceError as exc:
            self.rejected.mkdir(parents=True, exist_ok=True)
            copy = self.rejected / f"{thumbprint(certificate)}.der"
            copy.write_bytes(der(certificate))
            log.error(
                "opcua_client_certificate_refused",
                audit=True,
                status=ua.StatusCode(ua.UInt32(exc.code)).name,
                subject=certificate.subject.rfc4514_string(),
                application_uri=description.ApplicationUri,
                thumbprint_sha1=thumbprint(certificate),
                copied_to=str(copy),
                trust_by_moving_it_to=str(self.trusted),
            )
            raise


# --- methods ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Arg:
    name: str
    type: ua.VariantType
    description: str


Handler = Callable[..., Awaitable[list[Any]]]


class _CallRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- the address space's variables -------------------------------------------------------


def _alarm_line(alarm: AlarmStatus) -> str:
    flags = ("" if alarm["active"] else " (cleared)") + (
        f" (acknowledged by {alarm['acked_by']})" if alarm["acked_by"] else ""
    )
    return f"P{alarm['priority']} {alarm['key']}: {alarm['text']}{flags}"


NO_PROMPT: PromptStatus = {"kind": "", "text": "", "options": [], "item": 0}


def variables(status: Status) -> dict[str, tuple[Any, ua.VariantType]]:
    """Node id -> (value, type) of every variable, from one status snapshot."""
    counts = status["counts"]
    prompt = status["prompt"] or NO_PROMPT
    alarms = status["alarms"]
    route = status["route"]
    done = [op["operation"] for op in route if op["done"]]
    values: dict[str, tuple[Any, ua.VariantType]] = {
        "Station.TagID": (status["station"], V.String),
        "Station.Operation": (status["operation"], V.String),
        "Station.PackMLVersion": (PACKML_VERSION, V.String),
        "Station.BaseStateMachine.CurrentState": (
            ua.LocalizedText(status["state"]),
            V.LocalizedText,
        ),
        "Station.Status.StateCurrent": (PACKML_STATE_NUMBERS[State(status["state"])], V.Int32),
        "Station.Status.UnitModeCurrent": (PACKML_UNIT_MODES[UnitMode(status["mode"])], V.Int32),
        "Station.Status.UnitModeName": (status["mode"], V.String),
        "Station.Status.EquipmentBlocked": (bool(status["blocked"]), V.Boolean),
        "Station.Status.EquipmentStarved": (bool(status["starved"]), V.Boolean),
        interface.STATUS_JSON: (json.dumps(status, sort_keys=True), V.String),
        "Station.Admin.ProdProcessedCount": (counts["cycles"], V.Int32),
        "Station.Admin.ProdDefectiveCount": (counts["failed"], V.Int32),
        "Station.Admin.ProdPassedCount": (counts["passed"], V.Int32),
        "Station.Admin.ProdReworkCount": (counts["rework"], V.Int32),
        "Station.Admin.ProdHeldCount": (counts["held"], V.Int32),
        "Station.Admin.AlarmExtent": (len(alarms), V.Int32),
        "Station.Admin.Alarm": ([_alarm_line(a) for a in alarms], V.String),
        "Station.Vehicle.VIN": (status["vin"] or "", V.String),
        "Station.Vehicle.Model": (status["model"] or "", V.String),
        "Station.Vehicle.Held": (status["held"] or "", V.String),
        "Station.Vehicle.RouteDone": (done, V.String),
        "Station.Vehicle.RouteProgress": (f"{len(done)}/{len(route)}", V.String),
        "Station.Step.Index": (status["step_index"], V.Int32),
        "Station.Step.Count": (status["step_count"], V.Int32),
        "Station.Step.Name": (status["step"], V.String),
        "Station.Step.Progress": (float(status["step_progress"]), V.Double),
        "Station.Prompt.Kind": (prompt["kind"], V.String),
        "Station.Prompt.Text": (prompt["text"], V.String),
        "Station.Prompt.Options": (list(prompt["options"]), V.String),
        "Station.Prompt.Item": (prompt["item"], V.Int32),
        "Station.Alarms.Active": ([a["key"] for a in alarms if a["active"]], V.String),
        "Station.Alarms.Unacknowledged": (
            [a["key"] for a in alarms if not a["acked_by"]],
            V.String,
        ),
        "Station.Alarms.Json": (json.dumps(alarms, sort_keys=True), V.String),
    }
    for name, value in status["inputs"].items():
        values[f"Station.IO.Inputs.{name}"] = (value, V.Int32)
    for name, value in status["outputs"].items():
        values[f"Station.IO.Outputs.{name}"] = (value, V.Int32)
    for name, up in status["links"].items():
        values[f"Station.IO.Links.{name}"] = (bool(up), V.Boolean)
    return values


def event_summary(event: Event) -> dict[str, Any]:
    """What the console shows of a journal event."""
    detail = json.dumps(event.data, sort_keys=True, separators=(",", ":")) if event.data else ""
    return {
        "seq": event.seq,
        "wall": event.wall,
        "kind": event.kind,
        "vin": event.vin,
        "step": event.step,
        "result": event.result,
        "operator": event.operator,
        "detail": detail[:200],
    }


def _data_value(value: Any, variant_type: ua.VariantType) -> ua.DataValue:
    if value is None:
        return ua.DataValue(
            ua.Variant(ua.get_default_value(variant_type), variant_type),
            StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.BadNoCommunication)),
        )
    return ua.DataValue(ua.Variant(value, variant_type))


# --- the server ---------------------------------------------------------------------------


class StationServer:
    """The station's OPC UA server; see the module docstring. An async context manager
    (start on enter, stop on exit), or call `start()` and `stop()`."""

    def __init__(
        self,
        station: Station,
        interface_config: Interface,
        *,
        endpoint: str | None = None,
        users_file: Path | None = None,
        pki_dir: Path,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.station = station
        self.config = interface_config
        self.endpoint = endpoint or interface_config.endpoint
        if users_file is None and interface_config.users_file is not None:
            users_file = station.config.path.parent / interface_config.users_file
        self.users_file = users_file
        self.pki_dir = pki_dir
        self.refresh_s = refresh_s
        self.startup_s: float | None = None
        self.log = log.bind(station=station.name, endpoint=self.endpoint)
        self._server: Server | None = None
        self._ns = 0
        self._published: dict[str, Any] = {}
        self._variable_types: dict[str, ua.VariantType] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._last_seq = 0
        self._dirty = asyncio.Event()
        self._running = False
        self._publisher: asyncio.Task[None] | None = None
        self._audits: set[asyncio.Task[Event]] = set()
        self._nodes: dict[str, Node] = {}
        station.on_change(self._on_change)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Build the address space and listen (ConfigError: a bad users file)."""
        began = time.monotonic()
        authenticator = Authenticator.open(self.users_file)
        if self.users_file is None:
            self.log.warning("opcua_no_users_file", consequence="every method call is refused")
        server = Server(user_manager=_Users(authenticator, self._login_refused))
        server.name = f"station {self.station.name}"
        server.product_uri = "urn:station-controller"
        server.manufacturer_name = "station-controller"
        await server.init()
        certificate, key = await asyncio.to_thread(self._own_certificate)  # RSA keygen
        await server.load_certificate(str(certificate))
        await server.load_private_key(str(key))
        await server.set_application_uri(application_uri(load_certificate(certificate)))
        server.set_endpoint(self.endpoint)
        policies = list(dict.fromkeys(self.config.security))
        server.set_security_policy(
            [SECURITY_POLICIES[p] for p in policies], permission_ruleset=_CallerRules()
        )
        server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
        (self.pki_dir / "trusted").mkdir(parents=True, exist_ok=True)
        server.set_certificate_validator(_ClientCertificates(self.pki_dir))
        if policies == ["None"] and not self._local():
            self.log.warning(
                "opcua_plaintext_passwords",
                consequence="only security None is offered on a non-local endpoint: "
                "passwords cross the network in clear",
            )
        self._ns = await server.register_namespace(interface.NAMESPACE_URI)
        self._server = server
        try:
            await self._build()
            await server.start()
        except BaseException:
            self._server = None
            await server.stop()
            raise
        self._running = True
        self._publisher = asyncio.create_task(
            self._publish_loop(), name=f"opcua-publish:{self.station.name}"
        )
        self.startup_s = time.monotonic() - began
        self.log.info("opcua_server_started", startup_s=round(self.startup_s, 3), security=policies)

    async def stop(self) -> None:
        """Stop publishing, close every session and the socket."""
        self._running = False
        tasks = [t for t in (self._publisher, *self._audits) if t is not None]
        self._publisher = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
            # asyncua 2.1 keeps a session with subscriptions alive after its connection
            # drops (so a client may reactivate it, OPC 10000-4 6.7), and Server.stop()
            # leaves those sessions' tasks running: close them here.
            for session in list(server.iserver._external_sessions.values()):
                await session.close_session(delete_subs=True)
            self.log.info("opcua_server_stopped")

    def _local(self) -> bool:
        host = urlparse(self.endpoint).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1")

    def _own_certificate(self) -> tuple[Path, Path]:
        own = self.pki_dir / "own"
        certificate, key = own / "server.der", own / "server.key.pem"
        if not (certificate.exists() and key.exists()):
            uri = f"urn:{socket.gethostname()}:station-controller:{self.station.name}"
            host = urlparse(self.endpoint).hostname
            files = write_certificate(own, "server", uri, hostnames=[host] if host else [])
            self.log.info("opcua_certificate_generated", certificate=str(files.certificate))
        return certificate, key

    # --- address space --------------------------------------------------------------------

    def _id(self, node_id: str) -> ua.NodeId:
        return ua.NodeId(ua.String(node_id), ua.Int16(self._ns))

    async def _build(self) -> None:
        assert self._server is not None
        self._nodes, self._variable_types = {}, {}
        self._events.clear()
        objects = self._server.nodes.objects
        self._nodes[interface.STATION] = await objects.add_object(
            self._id(interface.STATION), ua.QualifiedName(self.station.name, self._ns)
        )
        status = self.station.status()
        for node_id, (value, variant_type) in variables(status).items():
            await self._add_variable(node_id, value, variant_type)
        await self._add_variable(interface.EVENTS_JSON, "[]", V.String)
        await self._add_variable("Station.Line", self.station.config.line.model.line, V.String)
        await self._build_methods()
        self._published = {k: v for k, (v, _) in variables(status).items()}

    async def _object(self, node_id: str) -> Node:
        node = self._nodes.get(node_id)
        if node is None:
            parent_id, _, name = node_id.rpartition(".")
            parent = await self._object(parent_id)
            node = await parent.add_object(self._id(node_id), ua.QualifiedName(name, self._ns))
            self._nodes[node_id] = node
        return node

    async def _add_variable(self, node_id: str, value: Any, variant_type: ua.VariantType) -> None:
        parent_id, _, name = node_id.rpartition(".")
        parent = await self._object(parent_id)
        await parent.add_variable(
            self._id(node_id),
            ua.QualifiedName(name, self._ns),
            # a value not known yet (a link still down) is created with the type's
            # default, then marked BadNoCommunication below
            ua.Variant(
                ua.get_default_value(variant_type) if value is None else value, variant_type
            ),
            varianttype=variant_type,
        )
        self._variable_types[node_id] = variant_type
        if value is None:
            assert self._server is not None
            await self._server.write_attribute_value(
                self._id(node_id), _data_value(None, variant_type)
            )

    async def _build_methods(self) -> None:
        st = self.station
        result = [_Arg("Result", V.String, "what was done, or why it was refused")]

        def packml(command: str) -> Handler:
            async def run(user: str, role: str) -> list[Any]:
                return [str(await st.command(command, user, role))]

            return run

        async def set_mode(user: str, role: str, mode: str) -> list[Any]:
            await st.set_mode(mode, user, role)
            return [f"unit mode {mode}"]

        async def acknowledge(user: str, role: str, key: str) -> list[Any]:
            await st.acknowledge(key, user, role)
            return [f"alarm {key} acknowledged"]

        def answer(kind: Any, fixed: str | None = None) -> Handler:
            async def run(user: str, role: str, *value: str) -> list[Any]:
                text = fixed if fixed is not None else value[0]
                await st.answer(kind, text, user, role)
                return [f"{kind}: {text}"]

            return run

        async def override(user: str, role: str, what: str, reason: str) -> list[Any]:
            await st.override(what, reason, user, role)
            return [f"{what} overridden"]

        async def dispose(user: str, role: str, action: str, reason: str) -> list[Any]:
            await st.dispose(action, reason, user, role)
            return [f"vehicle disposed: {action}"]

        async def force_output(user: str, role: str, name: str, value: int) -> list[Any]:
            await st.force_output(name, value, user, role)
            return [f"{name} forced to {value}"]

        async def who_am_i(user: str, role: str) -> list[Any]:
            return [user, role]

        text = V.String
        methods: list[tuple[str, Handler, list[_Arg], list[_Arg]]] = [
            *((m, packml(m.lower()), [], result) for m in PACKML_COMMANDS),
            (
                "SetUnitMode",
                set_mode,
                [_Arg("Mode", text, "production, manual or maintenance")],
                result,
            ),
            ("AcknowledgeAlarm", acknowledge, [_Arg("Key", text, "the alarm's key")], result),
            ("ConfirmChecklistItem", answer("checklist", "done"), [], result),
            ("EnterVerdict", answer("verdict"), [_Arg("Verdict", text, "pass or fail")], result),
            ("ManualVin", answer("manual_vin"), [_Arg("Vin", text, "the VIN, typed")], result),
            ("ConfirmStep", answer("confirm_step", "go"), [], result),
            (
                "Override",
                override,
                [
                    _Arg("What", text, "what is overridden: photo_session"),
                    _Arg("Reason", text, "why (journaled)"),
                ],
                result,
            ),
            (
                "Dispose",
                dispose,
                [
                    _Arg("Action", text, "retry the failed step, or remove the vehicle"),
                    _Arg("Reason", text, "why (journaled)"),
                ],
                result,
            ),
            (
                "ForceOutput",
                force_output,
                [_Arg("Name", text, "output name"), _Arg("Value", V.Int32, "value to write")],
                result,
            ),
            (
                "WhoAmI",
                who_am_i,
                [],
                [_Arg("User", text, "the session's user"), _Arg("Role", text, "its role")],
            ),
        ]
        for name, handler, inputs, outputs in methods:
            parent = await self._object(interface.method_parent(name))
            await parent.add_method(
                self._id(f"{interface.method_parent(name)}.{name}"),
                ua.QualifiedName(name, self._ns),
                self._method(name, handler, inputs),
                [self._argument(a) for a in inputs],
                [self._argument(a) for a in outputs],
            )

    @staticmethod
    def _argument(arg: _Arg) -> ua.Argument:
        argument = ua.Argument()
        argument.Name = arg.name
        argument.DataType = ua.NodeId(ua.Int32(arg.type.value))
        argument.ValueRank = -1
        argument.Description = ua.LocalizedText(arg.description)
        return argument

    def _method(
        self, name: str, handler: Handler, inputs: list[_Arg]
    ) -> Callable[..., Awaitable[ua.CallMethodResult]]:
        async def call(parent: ua.NodeId, *arguments: ua.Variant) -> ua.CallMethodResult:
            user, role = caller()
            result = ua.CallMethodResult()
            try:
                values = self._arguments(name, inputs, arguments)
                outputs = await handler(user, role, *values)
            except _CallRefused as exc:
                status, message = exc.status, str(exc)
            except NotAuthorized as exc:
                status, message = StatusCodes.BadUserAccessDenied, str(exc)
            except (Refused, IllegalCommand) as exc:
                status, message = StatusCodes.BadInvalidState, str(exc)
            except Exception as exc:
                self.log.exception("opcua_method_failed", method=name, user=user)
                status, message = StatusCodes.BadInternalError, f"{name} failed: {exc}"
            else:
                result.OutputArguments = [ua.Variant(v, V.String) for v in outputs]
                return result
            self.log.info("opcua_call_refused", method=name, user=user, role=role, why=message)
            result.StatusCode = ua.StatusCode(ua.UInt32(status))
            result.OutputArguments = [ua.Variant(message, V.String)]
            return result

        return call

    @staticmethod
    def _arguments(name: str, inputs: list[_Arg], arguments: Iterable[ua.Variant]) -> list[Any]:
        values = [a.Value for a in arguments]
        if len(values) < len(inputs):
            missing = ", ".join(a.name for a in inputs[len(values) :])
            raise _CallRefused(StatusCodes.BadArgumentsMissing, f"{name}: missing {missing}")
        if len(values) > len(inputs):
            raise _CallRefused(
                StatusCodes.BadTooManyArguments,
                f"{name} takes {len(inputs)} argument(s), got {len(values)}",
            )
        for arg, value in zip(inputs, values, strict=True):
            expected = int if arg.type is V.Int32 else str
            if not isinstance(value, expected) or isinstance(value, bool):
                raise _CallRefused(
                    StatusCodes.BadInvalidArgument,
                    f"{name}: {arg.name} must be {arg.type.name} (got {value!r})",
                )
        return values

    # --- publishing --------------------------------------------------------------------------

    def _on_change(self) -> None:
        if self._running:
            self._dirty.set()

    async def _publish_loop(self) -> None:
        self._read_events(initial=True)
        while True:
            notified = self._dirty.is_set()
            self._dirty.clear()
            try:
                if notified:
                    self._read_events()
                await self._publish()
            except Exception:
                self.log.exception("opcua_publish_failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_s):
                    await self._dirty.wait()

    def _read_events(self, *, initial: bool = False) -> None:
        journal = self.station.journal
        if initial:
            last = journal.last()
            self._last_seq = max(0, (last.seq if last is not None else 0) - RECENT_EVENTS)
        new = journal.events(after_seq=self._last_seq)
        if new:
            self._events.extend(event_summary(e) for e in new)
            self._last_seq = new[-1].seq

    async def _publish(self) -> None:
        assert self._server is not None
        current = variables(self.station.status())
        current[interface.EVENTS_JSON] = (json.dumps(list(self._events)), V.String)
        for node_id, (value, variant_type) in current.items():
            if node_id not in self._variable_types:
                await self._add_variable(node_id, value, variant_type)
            elif self._published.get(node_id, _UNSET) == value:
                continue
            else:
                await self._server.write_attribute_value(
                    self._id(node_id), _data_value(value, variant_type)
                )
            self._published[node_id] = value

    # --- audit -------------------------------------------------------------------------------

    def _login_refused(self, user: str, why: str) -> None:
        self.log.warning("opcua_login_refused", user=user, why=why, audit=True)
        task = asyncio.create_task(
            self.station.record("login_refused", operator=user, result="opcua", data={"why": why}),
            name=f"opcua-audit:{self.station.name}",
        )
        self._audits.add(task)
        task.add_done_callback(self._audit_done)

    def _audit_done(self, task: asyncio.Task[Event]) -> None:
        self._audits.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("login_refused_not_journaled", error=repr(task.exception()))


_UNSET = object()


def serve(
    station: Station,
    interface_config: Interface,
    *,
    endpoint: str | None = None,
    users_file: Path | None = None,
    pki_dir: Path,
) -> StationServer:
    """The station's OPC UA server, not yet started: `async with serve(...) as server:`
    or `await server.start()` ... `await server.stop()`. `endpoint` overrides the
    interface's (`station run --opcua`); `users_file` overrides its users file, else
    taken relative to the station file; `pki_dir` holds own/, trusted/, rejected/."""
    return StationServer(
        station, interface_config, endpoint=endpoint, users_file=users_file, pki_dir=pki_dir
    )
