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
- Who calls: asyncua does not hand the session to a method; the permission ruleset
  records the session's user for the method to read (`station.interface.access`).
  A session with no credentials is the user `anonymous` with the role `anonymous`,
  which no action allows: its calls reach the Station, which refuses and journals them
  (docs/faults.md rows 29-30).
- Start-up: asyncua's `Server.init()` builds the standard address space in about 1-1.5 s
  (stalling this loop for up to ~0.1 s at a time); `start()` logs how long it took.

By role: this module starts and stops the server; `access` (who calls, what nobody
may do), `certificates` (policies, own and client certificates), `address_space`
(our nodes), `variables` (status -> variables), `methods` (the method table and its
calls), `publisher` (the publishing task), `audit` (refused logins), `sessions`
(closing the clients' sessions at stop).

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
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlparse

import structlog
from asyncua import ua
from asyncua.server.server import Server

from hal.opcua.certs import application_uri, load_certificate
from station import interface
from station.config.models import Interface
from station.interface.access import CallerRules, UsersFile
from station.interface.address_space import AddressSpace
from station.interface.audit import LoginAudit
from station.interface.certificates import SECURITY_POLICIES, ClientCertificates, own_certificate
from station.interface.methods import add_methods
from station.interface.publisher import Publisher
from station.interface.sessions import SessionTracking
from station.interface.users import Authenticator
from station.interface.variables import V
from station.runtime import Station

log = structlog.get_logger(__name__)

REFRESH_S = 0.25
"""Sampling period for values that change without a notification (PLC inputs)."""


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
        self._sessions: SessionTracking | None = None
        self._publisher: Publisher | None = None
        self._publishing: asyncio.Task[None] | None = None
        self._audit = LoginAudit(station, self.log)
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

    async def start(self) -> None:
        """Build the address space and listen (ConfigError: a bad users file)."""
        began = time.monotonic()
        authenticator = Authenticator.open(self.users_file)
        if self.users_file is None:
            self.log.warning("opcua_no_users_file", consequence="every method call is refused")
        sessions = SessionTracking(UsersFile(authenticator, self._audit.refused))
        server = Server(iserver=sessions)
        server.name = f"station {self.station.name}"
        server.product_uri = "urn:station-controller"
        server.manufacturer_name = "station-controller"
        await server.init()
        certificate, key = await asyncio.to_thread(  # RSA keygen
            own_certificate, self.pki_dir, self.station.name, self.endpoint
        )
        await server.load_certificate(str(certificate))
        await server.load_private_key(str(key))
        await server.set_application_uri(application_uri(load_certificate(certificate)))
        server.set_endpoint(self.endpoint)
        policies = list(dict.fromkeys(self.config.security))
        server.set_security_policy(
            [SECURITY_POLICIES[p] for p in policies], permission_ruleset=CallerRules()
        )
        server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
        (self.pki_dir / "trusted").mkdir(parents=True, exist_ok=True)
        server.set_certificate_validator(ClientCertificates(self.pki_dir))
        if policies == ["None"] and not self._local():
            self.log.warning(
                "opcua_plaintext_passwords",
                consequence="only security None is offered on a non-local endpoint: "
                "passwords cross the network in clear",
            )
        ns = await server.register_namespace(interface.NAMESPACE_URI)
        self._server, self._sessions = server, sessions
        try:
            publisher = await self._build(AddressSpace(server, ns))
            await server.start()
        except BaseException:
            self._server = self._sessions = None
            await server.stop()
            raise
        self._publisher = publisher
        self._publishing = asyncio.create_task(
            publisher.run(), name=f"opcua-publish:{self.station.name}"
        )
        self.startup_s = time.monotonic() - began
        self.log.info("opcua_server_started", startup_s=round(self.startup_s, 3), security=policies)

    async def stop(self) -> None:
        """Stop publishing, close every session and the socket."""
        self._publisher = None
        tasks = [t for t in (self._publishing, *self._audit.tasks) if t is not None]
        self._publishing = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server, self._server = self._server, None
        sessions, self._sessions = self._sessions, None
        if server is not None and sessions is not None:
            await server.stop()
            await sessions.close_sessions()
            self.log.info("opcua_server_stopped")

    def _local(self) -> bool:
        host = urlparse(self.endpoint).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1")

    async def _build(self, space: AddressSpace) -> Publisher:
        """The station's nodes: its variables (published by the returned `Publisher`),
        its line, its methods."""
        await space.add_root(interface.STATION, self.station.name)
        publisher = Publisher(self.station, space, self.refresh_s, self.log)
        await publisher.add_variables()
        await space.add_variable("Station.Line", self.station.config.line.model.line, V.String)
        await add_methods(space, self.station, self.log)
        return publisher

    def _on_change(self) -> None:
        if self._publisher is not None:
            self._publisher.notify()


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
