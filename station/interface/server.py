"""The station's OPC UA server: its status for SCADA and the console, its commands as methods.

Design
- One `StationServer` per station process; the server itself runs in a process of its
  own (`station.interface.process`, started and stopped with the station's): nothing
  a client sends (logins with their ~50 ms password hash, browses, floods of refused
  calls) costs the control loop more than the messages it is sent, and a crash of the
  server leaves the line running (alarm `opcua`). The server knows the Station only
  through what the station sends it (`publisher.StatusFeed`, `channel`), and acts only
  through the Station's commands, run here (`commands`), which check the caller's role
  and journal every call, refused or not (`station.runtime`, `station.roles`). The
  server adds the caller's identity and nothing else.
- Publishing never blocks the station: `Station.on_change` only sets a flag; one named
  task of the control loop (`opcua-publish:<station>`) takes the status snapshot,
  compares it with what it sent last and sends the server's process the values that
  changed, so a burst of changes costs one pass. It also samples every
  `refresh_s` (0.25 s) for what changes without a notification (PLC inputs, which the
  drivers poll). New journal events are read once per pass that follows a change.
- Who calls: asyncua does not hand the session to a method; the permission ruleset
  records the session's user for the method to read (`station.interface.access`).
  A session with no credentials is the user `anonymous` with the role `anonymous`,
  which no action allows: its calls reach the Station, which refuses and journals them
  (docs/faults.md rows 29-30), the first of a window per client address in full, the
  others counted (`audit`).
- Start-up: the process is spawned first thing in the assembly (`ServerProcess.spawn`):
  it imports asyncua (0.5-0.8 s) and reads the standard address space from the
  machine's shelf (`standard_nodes`, 0.2 s; built once, 1.5 s) while the station
  starts; `station run` has it start serving after READY (`start_soon`), on the
  sockets it bound (`listeners`), and `start()` logs `interface_serving` with how long
  it took.

By role: this module starts and stops the server; `access` (who calls, what nobody
may do), `certificates` (policies, own and client certificates), `address_space`
(our nodes), `variables` (status -> variables), `methods` (the method table and its
calls), `publisher` (status -> the server's process -> variables), `audit` (refusals, counted
per client), `throttle` (backoff per source, refusal windows), `sessions` (each
session's client; closing the sessions at stop), `process` (the server's process),
`channel` (the messages between the two), `commands` (a method call, run here).

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
          Kind Text           String            checklist, verdict, measurement, finding,
                                                manual_vin, confirm_step; ""
          Name                String            what a measurement prompt asks for; ""
          Options             String[]
          Item                Int32
        Measurements/                           each quantity of the station's steps
          <name>/                               its last measurement, of whichever vehicle
            Value             Double            rounded to its decimals;
                                                Bad_WaitingForInitialData until measured
            Unit Limits       String            "%", ">= 70.0 %"
            Verdict           String            pass, fail ("" until measured)
            Time              DateTime          when it was journaled (`measured`)
            VIN               String            of the vehicle measured ("" until measured)
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
          EnterMeasurement(Value)  the quantity Prompt/Name asks for; BadOutOfRange
                                   outside its physical range (asked again)
          EnterFinding(Finding)  'CODE note' of the catalogue, or 'none'; a code not
                                 in it BadInvalidArgument (asked again)
          EnterAttribute(Answer)  yes or no: the attribute Prompt/Name found here
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
  against the users file (`station.interface.logins`). On a None endpoint the password
  is still encrypted with the server's key when a Basic256Sha256 endpoint is offered;
  when only None is offered it crosses the wire in clear (a warning at start): keep
  None for localhost. A refused login is journaled (`login_refused`, with the client's
  address); after `interface.free_wrong_passwords` wrong passwords from one address,
  it is refused without a check for a wait that doubles up to `max_login_wait_s`. A user name is
  never locked: the right password from another address gets in.
- On a None endpoint, a client's application certificate is ignored (OPC 10000-4
  5.6.2); `<pki_dir>/rejected/` keeps the 100 newest refused certificates.
- Binding: the endpoint's host, 127.0.0.1 by default; set the IPC's address in the
  station file to serve the plant network.

Starting from `station run`::

    async with serve(station, config.model.interface, endpoint=args.opcua,
                     pki_dir=state_dir / "pki") as server:
        ...   # server.endpoint, server.startup_s
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog

from station import logs
from station.alarms import Priority
from station.config.models import Interface
from station.events import LoginRefused, RefusalsCounted
from station.events.base import Entry, EventKind
from station.footprint import SERVER_PROCESS
from station.interface import Code
from station.interface.channel import Channel, Message, values_out
from station.interface.commands import handlers, run_command
from station.interface.logins import Authenticator
from station.interface.publisher import StatusFeed
from station.interface.variables import Variables
from station.journal.untrusted import shown
from station.runtime import Station

log = structlog.get_logger(__name__)

REFRESH_S = 0.25
"""Sampling period for values that change without a notification (PLC inputs)."""


MMAP_THRESHOLD = "MALLOC_MMAP_THRESHOLD_"
MMAP_THRESHOLD_BYTES = 1 << 20
"""glibc's malloc in the server's process: blocks of 1 MiB and more are mapped on their
own and given back when freed. Its default threshold rises to the largest block freed,
so the 16 MiB of each login's scrypt check (`logins.py`) stayed in the heap: +16 MiB
PSS once the first user logged in. Unless the environment sets it already."""

START_TIMEOUT_S = 60.0
"""Longest wait for the server's process to listen."""
STOP_TIMEOUT_S = 10.0
"""Longest wait for it to close its sessions and end, before it is killed."""
AUDIT_KINDS: dict[str, type[Entry]] = {
    EventKind.LOGIN_REFUSED: LoginRefused,
    EventKind.REFUSALS_COUNTED: RefusalsCounted,
}
"""What the server's process may journal."""


class ServerProcess:
    """The server's process and this end of its channel, from its start to its end.
    Started early (`spawn()`), it builds asyncua's standard address space (1.3-1.5 s)
    while the station starts; a `StationServer` then adopts it."""

    def __init__(self, process: asyncio.subprocess.Process, channel: Channel) -> None:
        self.process = process
        self.channel = channel

    @classmethod
    async def spawn(cls, listeners: Sequence[socket.socket] = ()) -> ServerProcess:
        """The process, serving on `listeners` (sockets bound and listening, `station run`'s,
        handed over: closed here) once started, else on sockets of its own."""
        ours, theirs = socket.socketpair()
        listening = [str(sock.fileno()) for sock in listeners]
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                SERVER_PROCESS,  # python -m station.interface.process, niced, without rich
                "--fd",
                str(theirs.fileno()),
                *(f"--listen-fd={fd}" for fd in listening),
                *logs.child_options(),
                env={MMAP_THRESHOLD: str(MMAP_THRESHOLD_BYTES), **os.environ},
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=(theirs.fileno(), *(sock.fileno() for sock in listeners)),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            for sock in listeners:  # the process's now: a dead server refuses clients
                sock.close()
        return cls(process, await Channel.open(ours))

    async def exit_code(self, within_s: float = 1.0) -> int | None:
        """The exit code once the process has ended (None: still running after `within_s`)."""
        try:
            async with asyncio.timeout(within_s):
                return await self.process.wait()
        except TimeoutError:
            return None

    async def end(self) -> None:
        """Close the channel (the process stops at its end) and wait for the process,
        killed if it does not end within `STOP_TIMEOUT_S`."""
        await self.channel.close()
        if await self.exit_code(STOP_TIMEOUT_S) is None:
            self.process.kill()
            await self.process.wait()


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
        self._spawned: ServerProcess | None = None
        self._starting: asyncio.Task[None] | None = None
        self._server: ServerProcess | None = None
        self._feed: StatusFeed | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._calls: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._handlers = handlers(station)
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
        """Start the server's process and wait until it listens (ConfigError: a bad users
        file; OSError: the endpoint cannot be bound)."""
        began = time.monotonic()
        # refused here, in one line; the server's process checks logins with what was read
        users = await asyncio.to_thread(Authenticator.open, self.users_file)
        if self.users_file is None:
            self.log.warning("opcua_no_users_file", consequence="every method call is refused")
        await asyncio.to_thread(self.pki_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        feed = StatusFeed(self.station, self.refresh_s, self.log)
        feed.start()
        spawned, self._spawned = self._spawned, None
        server = spawned if spawned is not None else await ServerProcess.spawn()
        self._server = server
        try:
            await server.channel.send({"start": self._settings(feed.current(), users)})
            async with asyncio.timeout(START_TIMEOUT_S):
                answer = await server.channel.receive()
            if answer is None or "started" not in answer:
                raise _start_failure(answer, await server.exit_code())
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and server.process.returncode is None:
                server.process.kill()  # stopped before it served: it has nothing to close
            await self._end()
            raise
        self._feed = feed
        channel = server.channel
        self._tasks = [
            asyncio.create_task(feed.run(channel), name=f"opcua-publish:{self.station.name}"),
            asyncio.create_task(self._listen(channel), name=f"opcua-listen:{self.station.name}"),
        ]
        self.startup_s = time.monotonic() - began
        self.log.info(
            "interface_serving",
            startup_s=round(self.startup_s, 3),
            security=list(dict.fromkeys(self.config.security)),
            pid=server.process.pid,
        )

    def start_soon(self) -> None:
        """`start()` in a task of its own: the station goes on meanwhile (`station run`
        is READY before its interface serves); `serving()` waits for it, `stop()` stops
        it wherever it is."""
        self._starting = asyncio.create_task(self.start(), name=f"opcua-start:{self.station.name}")

    async def serving(self) -> None:
        """Once the server started by `start_soon()` serves (what `start()` raises, if it
        failed)."""
        assert self._starting is not None, "start_soon() first"
        await asyncio.shield(self._starting)

    async def stop(self) -> None:
        """Stop publishing; the server's process closes every session and its socket,
        sends the refusals it still counts, and ends (killed if it does not)."""
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done():
            starting.cancel()  # its process ended as it unwinds
            await asyncio.gather(starting, return_exceptions=True)
        if self._server is None:
            return
        self._stopping = True
        self._feed = None
        feeding, listening = self._tasks
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        try:
            await self._server.channel.send({"stop": True})
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await listening  # journals what the process still sends, to its end
        except (TimeoutError, ConnectionError):
            self.log.error("opcua_server_did_not_stop", consequence="killed")
        await self._end()
        self.log.info("opcua_server_stopped")

    def _settings(self, initial: Variables, users: Authenticator) -> dict[str, Any]:
        return {
            "station": self.station.name,
            "line": self.station.config.line.model.line,
            "interface": self.config.model_dump(mode="json"),
            "endpoint": self.endpoint,
            "logins": users.logins(),
            "pki_dir": str(self.pki_dir),
            "initial": values_out(initial),
        }

    async def _listen(self, channel: Channel) -> None:
        """What the server's process asks: run a command, journal an audit entry."""
        try:
            while (message := await channel.receive()) is not None:
                if "call" in message:
                    self._spawn_call(channel, message)
                elif "journal" in message:
                    await self._journal(message["journal"])
        except (ConnectionError, ValueError) as exc:
            self.log.error("opcua_server_channel_broken", error=str(exc))
        if not self._stopping and self._server is not None:
            code = await self._server.exit_code()
            text = f"OPC UA server process ended ({code}): console and SCADA cut off"
            self.log.error("opcua_server_died", exit_code=code)
            self.station.alarms_raise("opcua", Priority.HIGH, text)

    def _spawn_call(self, channel: Channel, message: Message) -> None:
        task = asyncio.create_task(
            self._call(channel, message), name=f"opcua-call:{self.station.name}"
        )
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _call(self, channel: Channel, message: Message) -> None:
        name = str(message["method"])
        handler = self._handlers.get(name)
        if handler is None:
            status, outputs = Code.BadMethodInvalid, [f"no method {name!r}"]
        else:
            user, role = str(message["user"]), str(message["role"])
            args = list(message["args"])
            status, outputs = await run_command(handler, name, user, role, args, self.log)
        await channel.send({"reply": message["call"], "status": status, "outputs": outputs})

    async def _journal(self, entry: dict[str, Any]) -> None:
        kind = AUDIT_KINDS.get(str(entry.get("kind")))
        if kind is None:
            self.log.error("opcua_server_journal_refused", kind=shown(str(entry.get("kind"))))
            return
        try:
            audit = kind(**entry["fields"])
        except TypeError as exc:
            self.log.error("opcua_server_journal_refused", kind=kind.KIND.value, error=str(exc))
            return
        await self.station.commit_if_possible(audit)

    def adopt(self, spawned: ServerProcess) -> None:
        """Serve from `spawned` (started early, `ServerProcess.spawn`) rather than a process
        of `start()`'s own."""
        self._spawned = spawned

    async def _end(self) -> None:
        """Make sure the process has ended and everything of it is closed."""
        for task in [*self._tasks, *self._calls]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._calls, return_exceptions=True)
        self._tasks = []
        server, self._server = self._server, None
        if server is not None:
            await server.end()

    def _on_change(self) -> None:
        if self._feed is not None:
            self._feed.notify()


def _start_failure(answer: Message | None, code: int | None) -> Exception:
    """What to raise for a server that did not start: the OSError it met (a busy or
    unassignable endpoint), or why it ended."""
    failed = answer.get("failed") if answer is not None else None
    if isinstance(failed, dict):
        errno = failed.get("errno")
        message = str(failed.get("message"))
        return OSError(errno, message) if isinstance(errno, int) else RuntimeError(message)
    return RuntimeError(f"the OPC UA server process ended before it listened (exit code {code})")


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
