"""The station's OPC UA server in a process of its own:
`python -m station.interface.process --fd N`, started and stopped by `StationServer`
(`station.interface.server`), which talks to it over the socket pair end `N`
(`station.interface.channel`).

Why a process: what a client sends (a login's ~50 ms password hash, a thousand browses,
a flood of refused calls) is CPU the station's control loop must never wait for.
asyncua runs everything in the loop that serves, and asks the user manager
synchronously; in a thread of the station's process it would still hold the
interpreter lock against the control loop (measured: 50-110 ms stalls under a storm).
In its own process, a storm costs the station nothing but the messages it is sent
(`python -m station.bench.storm`; figures in the README), and a crash of the server
leaves the line running (an alarm says so).

What runs here: asyncua's server with our address space, the users file's logins
(throttled per client address, `throttle.Backoff`), the refusal audit (its entries
sent to the station to journal), the publisher (values the station sends). What does
not: anything of the Station; a method call is sent to the station, which runs the
command and answers. Signals from a terminal or systemd are the station's to act on:
this process ignores SIGINT, SIGTERM and SIGHUP and ends when the station says
`stop`, or when the station's end of the socket closes (the station died).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import signal
import socket
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import structlog
from asyncua import ua
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from structlog.typing import FilteringBoundLogger

from hal.opcua.certs import application_uri, load_certificate
from station import interface
from station.events.base import Entry
from station.interface import V, standard_nodes
from station.interface.access import CallerRules, UsersFile
from station.interface.address_space import AddressSpace
from station.interface.audit import RefusalAudit
from station.interface.certificates import SECURITY_POLICIES, ClientCertificates, own_certificate
from station.interface.channel import Channel, Message, values_in
from station.interface.listeners import OnSockets
from station.interface.logins import Authenticator
from station.interface.methods import add_methods
from station.interface.publisher import Publisher
from station.interface.sessions import SessionTracking
from station.interface.throttle import Backoff, RefusalWindows

log = structlog.get_logger("station.interface")


class Served:
    """The server of one station, from the `start` message's settings."""

    def __init__(
        self,
        channel: Channel,
        settings: dict[str, Any],
        server: Server,
        sessions: SessionTracking,
    ) -> None:
        self.channel = channel
        self.station = str(settings["station"])
        self.line = str(settings["line"])
        self.config: dict[str, Any] = settings["interface"]
        """The station file's `interface:` (`station.config.models.Interface`), checked by
        the station: its model is not imported here (pydantic, issue 18 item 5)."""
        self.endpoint = str(settings["endpoint"])
        self.logins: dict[str, Any] = settings["logins"]
        self.pki_dir = Path(settings["pki_dir"])
        self.log: FilteringBoundLogger = log.bind(station=self.station, endpoint=self.endpoint)
        self.audit = RefusalAudit(
            self._journal, self.log, RefusalWindows(float(self.config["refusal_window_s"]))
        )
        self.publisher: Publisher | None = None
        self._server: Server | None = server
        self._sessions: SessionTracking | None = sessions
        self._tasks: list[asyncio.Task[None]] = []
        self._calls = itertools.count(1)
        self._answers: dict[int, asyncio.Future[tuple[int, list[Any]]]] = {}

    async def start(self, initial: dict[str, list[Any]]) -> None:
        """Build our address space and listen (OSError: the endpoint cannot be bound)."""
        server, sessions = self._server, self._sessions
        assert server is not None and sessions is not None
        authenticator = Authenticator.served(self.logins)
        backoff = Backoff(
            int(self.config["free_wrong_passwords"]), max_s=float(self.config["max_login_wait_s"])
        )
        sessions.user_manager = UsersFile(authenticator, self.audit, backoff)
        server.name = f"station {self.station}"
        await server.set_build_info(
            server.product_uri, server.manufacturer_name, server.name, "1.0", "0", datetime.now(UTC)
        )
        certificate, key = own_certificate(self.pki_dir, self.station, self.endpoint)
        await server.load_certificate(str(certificate))
        await server.load_private_key(str(key))
        await server.set_application_uri(application_uri(load_certificate(certificate)))
        server.set_endpoint(self.endpoint)
        policies = list(dict.fromkeys(str(p) for p in self.config["security"]))
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
        try:
            space = AddressSpace(server, ns)
            await space.add_root(interface.STATION, self.station)
            publisher = Publisher(space, self.log)
            await publisher.add_variables(values_in(initial))
            await space.add_variable("Station.Line", self.line, V.String)
            await add_methods(space, self._ask, self.audit, self.log)
            await server.start()
        except BaseException:
            self._server = self._sessions = None
            await server.stop()
            raise
        self.publisher = publisher
        self._tasks = [asyncio.create_task(self.audit.run(), name="opcua-audit")]

    async def stop(self) -> None:
        """Stop writing, close the sessions and the socket, journal the counts left."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for answer in self._answers.values():
            answer.cancel()
        server, self._server = self._server, None
        sessions, self._sessions = self._sessions, None
        if server is not None and sessions is not None:
            await server.stop()
            await sessions.close_sessions()
        self.audit.flush()

    def answered(self, message: Message) -> None:
        """The station's answer to a call."""
        answer = self._answers.pop(int(message["reply"]), None)
        if answer is not None and not answer.done():
            answer.set_result((int(message["status"]), list(message["outputs"])))

    async def _ask(self, method: str, user: str, role: str, values: list[Any]) -> Any:
        call = next(self._calls)
        answer: asyncio.Future[tuple[int, list[Any]]] = asyncio.get_running_loop().create_future()
        self._answers[call] = answer
        message = {"call": call, "method": method, "user": user, "role": role, "args": values}
        try:
            await self.channel.send(message)
            return await answer
        finally:
            self._answers.pop(call, None)

    def _journal(self, entry: Entry) -> None:
        self.channel.post({"journal": {"kind": entry.KIND.value, "fields": entry.fields()}})

    def _local(self) -> bool:
        host = urlparse(self.endpoint).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1")


class _Nobody(UserManager):
    """Until the users file is read: nobody logs in (nothing listens yet anyway)."""

    def get_user(
        self, iserver: Any, username: Any = None, password: Any = None, certificate: Any = None
    ) -> None:
        return None


async def prepared() -> tuple[OnSockets, SessionTracking]:
    """asyncua's server with its standard address space (from the machine's shelf, 0.2 s;
    built, 1.3-1.5 s: `standard_nodes`), before the station says what to serve."""
    began = time.monotonic()
    sessions = SessionTracking(_Nobody())
    server = OnSockets(iserver=sessions)
    sessions.server = server
    server.product_uri = "urn:station-controller"
    server.manufacturer_name = "station-controller"
    how = await standard_nodes.init(server, standard_nodes.cache_folder())
    log.info("opcua_standard_nodes", source=how, s=round(time.monotonic() - began, 3))
    return server, sessions


async def serve(channel: Channel, listeners: Sequence[socket.socket] = ()) -> None:
    """Serve what the first message says, on `listeners` (else on sockets of its own),
    until the station says stop or goes away; asyncua's address space is read while
    the station starts."""
    began = time.monotonic()
    building = asyncio.create_task(prepared(), name="opcua-init")
    first = await channel.receive()
    if first is None:
        building.cancel()
        await asyncio.gather(building, return_exceptions=True)
        return
    try:
        server, sessions = await building
        server.listeners = listeners
        served = Served(channel, first["start"], server, sessions)
        await served.start(first["start"]["initial"])
    except OSError as exc:
        await channel.send({"failed": {"errno": exc.errno, "message": str(exc)}})
        return
    except Exception as exc:
        log.exception("opcua_server_start_failed")
        await channel.send({"failed": {"errno": None, "message": f"{type(exc).__name__}: {exc}"}})
        return
    gc.freeze()  # what start-up built is not garbage: full collections stay short
    await channel.send({"started": {"startup_s": round(time.monotonic() - began, 3)}})
    try:
        while (message := await channel.receive()) is not None:
            if "vars" in message and served.publisher is not None:
                await served.publisher.write(values_in(message["vars"]))
            elif "reply" in message:
                served.answered(message)
            elif "stop" in message:
                break
    finally:
        await served.stop()
    await channel.send({"stopped": True})


async def _main(fd: int, listening: Sequence[int]) -> None:
    channel = await Channel.open(socket.socket(fileno=fd))
    listeners = [socket.socket(fileno=each) for each in listening]
    try:
        await serve(channel, listeners)
    except (ConnectionError, BrokenPipeError):
        pass  # the station is gone
    finally:
        await channel.close()


def main(not_niced: str | None = None) -> int:
    """The process (`station.footprint.server_process` starts it niced; `not_niced`:
    why it could not be)."""
    parser = argparse.ArgumentParser(prog="python -m station.interface.process")
    parser.add_argument("--fd", type=int, required=True, help="this end of the socket pair")
    parser.add_argument(
        "--listen-fd",
        type=int,
        action="append",
        default=[],
        help="a socket to serve on, bound and listening (repeatable; default: asyncua binds)",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-json", action="store_true", help="JSON lines even on a terminal")
    args = parser.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the station's to act on; it says stop
    from station import logs

    logs.configure(args.log_level, json_lines=True if args.log_json else None)
    if not_niced is not None:  # a sandbox that forbids it: served at the station's priority
        log.warning("opcua_server_not_niced", error=not_niced)
    asyncio.run(_main(args.fd, args.listen_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
