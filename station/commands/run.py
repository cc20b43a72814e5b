"""`station run --config STATION.yaml [--simulate] [--scenario S.yaml] [--console]
[--state-dir DIR] [--opcua URL] [--fast]`: run one station.

Start-up: the config is validated (exit 2 with every error otherwise), the
journal opened in the state directory, the visit in the station restored
from it, every device started in parallel (with `--simulate` each is an
in-process simulator speaking the real protocol on loopback). READY=1 goes to
systemd then, whether the devices are connected or not (a device down is a link
alarm on the station's list), WATCHDOG=1 from the main loop while it runs. The
station's OPC UA interface comes up after, in its own process, on the sockets bound
here before anything started, and logs `interface_serving` (docs/architecture.md
section 7, "Start-up and READY"); `--console` starts then. SIGTERM/SIGINT
stop cleanly (exit 0); SIGHUP re-reads the config file, which is taken when
no vehicle is in the station, except with `--console` on a terminal: there a
hangup is the terminal closed, and ends the console and the runtime (exit 0).

What would fail once started is refused before (exit 2, one line on stderr
each, nothing journaled): the station file, the users file (`--users` or the
station file's), the scenario (`station.scenario.check_scenario`, as `station
line` checks it), the state directory, a busy OPC UA port, and a journal that
is not this station's, not a journal, or broken.

With `--scenario` (or `--vehicles N`), simulated vehicles arrive at the
station and simulated people answer its questions; `--exit-when-done` ends
the run once every vehicle has left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import functools
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from station.commands.refusal import Refused

if TYPE_CHECKING:
    from station.config.loader import LoadedStation
    from station.interface.server import StationServer
    from station.journal import JournalError
    from station.runtime import Station
    from station.scenario import Scenario
    from station.simulation.world import StationWorld


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="station file")
    parser.add_argument("--simulate", action="store_true", help="simulate every device in process")
    parser.add_argument("--scenario", type=Path, help="scenario file (with --simulate)")
    parser.add_argument(
        "--vehicles", type=int, default=0, help="generate N vehicles (with --simulate)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of --vehicles")
    parser.add_argument("--console", action="store_true", help="run the operator console too")
    parser.add_argument("--state-dir", type=Path, help="journal folder ($STATE_DIRECTORY, ./state)")
    parser.add_argument(
        "--opcua",
        metavar="URL",
        help="endpoint of the station's OPC UA server (overrides the station file); "
        "'off' runs without it (benches)",
    )
    parser.add_argument(
        "--users", type=Path, help="users file of the OPC UA interface (overrides the station file)"
    )
    parser.add_argument(
        "--console-user", default="alice", help="user the --console logs in as (demo)"
    )
    parser.add_argument(
        "--fast", action="store_true", help="shrink simulated physical times (x0.02)"
    )
    parser.add_argument(
        "--exit-when-done", action="store_true", help="exit once every scenario vehicle has left"
    )
    parser.add_argument(
        "--no-autostart",
        action="store_true",
        help="wait for an operator's reset and start (default with real devices)",
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="plant broker (mqtt://HOST:PORT, mqtts://...): overrides uplink.broker, and turns "
        "the uplink on with its defaults for a station file without an uplink: section",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")


def command_line(
    config: Path,
    state_dir: Path,
    *,
    simulate: bool = False,
    scenario: Path | None = None,
    fast: bool = False,
    exit_when_done: bool = False,
    opcua: str | None = None,
    broker: str | None = None,
) -> list[str]:
    """The argv of `station run` in a process of its own, as tests and benches start it
    (this interpreter, `-m station.cli`)."""
    argv = [sys.executable, "-m", "station.cli", "run", "--config", str(config)]
    if simulate:
        argv.append("--simulate")
    if scenario is not None:
        argv += ["--scenario", str(scenario)]
    if fast:
        argv.append("--fast")
    if exit_when_done:
        argv.append("--exit-when-done")
    if opcua is not None:
        argv += ["--opcua", opcua]
    if broker is not None:
        argv += ["--broker", broker]
    return [*argv, "--state-dir", str(state_dir)]


def run(args: argparse.Namespace) -> int:
    """Every input is checked before anything starts (exit 2, one line a problem, nothing
    journaled): the station file, the users file, the scenario, the state directory and
    the OPC UA port; then the journal as the assembly opens it."""
    from station.footprint import leave_out_rich

    leave_out_rich()  # before structlog: station.footprint
    from station import logs
    from station.config.loader import ConfigError, load_station
    from station.state_dir import StateDirError, resolve_state_dir

    if (args.scenario or args.vehicles) and not args.simulate:
        print("--scenario and --vehicles need --simulate", file=sys.stderr)
        return 2
    try:
        loaded = _with_broker(args, load_station(args.config))
        users = _users_file(args, loaded)
        scenario = _scenario(args, loaded)
    except (ConfigError, _Refused) as exc:
        return exc.report()
    try:
        state_dir = resolve_state_dir(args.state_dir)
    except StateDirError as exc:
        return _Refused(str(exc)).report()
    endpoint = None if args.opcua == "off" else args.opcua or loaded.model.interface.endpoint
    listeners: list[socket.socket] = []
    if endpoint is not None:
        try:
            listeners = listening(endpoint)
        except _Unresolved as exc:
            return _Refused(
                f"OPC UA endpoint {endpoint}: {exc}: give --opcua URL a host and port to serve on"
            ).report()
        except OSError as exc:
            return _Refused(_endpoint_refused(endpoint, exc)).report()
    if args.console:
        # The console draws on this terminal: the runtime logs to its state folder.
        log_file = (state_dir / "station.log").open("a", buffering=1)
        logs.configure(args.log_level, file=log_file)
    else:
        logs.configure(args.log_level)
    start = _Start(loaded, state_dir, scenario, users, endpoint, listeners)
    try:
        return asyncio.run(_main(args, start))
    except _Refused as exc:
        return exc.report()
    finally:
        for sock in listeners:
            sock.close()


def _with_broker(args: argparse.Namespace, loaded: LoadedStation) -> LoadedStation:
    """`--broker URL`: the station file's uplink with that broker, or the uplink's
    defaults for a station file without one."""
    if args.broker is None:
        return loaded
    from station.uplink.config import Uplink

    try:
        uplink = Uplink.with_broker(loaded.model.uplink, args.broker)
    except ValueError as exc:
        raise _Refused(f"{args.config}: {exc}") from None
    return dataclasses.replace(loaded, model=loaded.model.model_copy(update={"uplink": uplink}))


class _Refused(Refused):
    """`station run` refuses to start: one line each, exit 2."""

    COMMAND = "station run"


@dataclasses.dataclass(frozen=True)
class _Start:
    """What `run` checked, for the runtime to start with."""

    loaded: LoadedStation
    state_dir: Path
    scenario: Scenario | None
    users: Path | None
    """The users file of the OPC UA interface (None: nobody may call a method)."""
    endpoint: str | None
    """The OPC UA endpoint (None: no server)."""
    listeners: list[socket.socket]
    """Its sockets, bound and listening (`listening`), for the server's process."""


def _users_file(args: argparse.Namespace, loaded: LoadedStation) -> Path | None:
    """The users file the OPC UA server will use, validated now (ConfigError). Simulated
    stations without the station file's users file on this machine serve read only, so
    a demo or a bench runs anywhere."""
    from station.interface.users import load_served_users

    configured = loaded.model.interface.users_file
    path: Path | None = args.users
    if path is None and configured is not None:
        path = loaded.path.parent / configured
        if args.simulate and not path.exists():
            path = None
    if path is not None and args.opcua != "off":
        load_served_users(path)
    return path


def _scenario(args: argparse.Namespace, loaded: LoadedStation) -> Scenario | None:
    """The scenario of the run, checked against the station and its line (ConfigError,
    _Refused); None without --scenario or --vehicles."""
    if args.scenario is None and not args.vehicles:
        return None
    from station.scenario import check_scenario, load_scenario
    from station.scenario_mix import generated

    source: Path | str
    if args.scenario is not None:
        scenario, source = load_scenario(args.scenario), args.scenario
    else:
        scenario = generated(args.vehicles, args.seed)
        source = f"--vehicles {args.vehicles} --seed {args.seed}"
    problems = check_scenario(scenario, loaded.line, {loaded.model.station: loaded}, source)
    if problems:
        raise _Refused(*problems)
    return scenario


class _Unresolved(Exception):
    """The endpoint names no host and port to serve on."""


def listening(endpoint: str) -> list[socket.socket]:
    """Sockets listening on every address of `endpoint`'s host, at its port, as asyncio's
    server would open them (OSError: one is taken or not this machine's). `station run`
    holds them from its checks on and hands them to the server's process: no other
    process can take the port meanwhile, and a client that connects before the server
    serves waits in the backlog instead of being refused."""
    url = urlparse(endpoint)
    try:
        addresses = socket.getaddrinfo(url.hostname, url.port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise _Unresolved(str(exc)) from exc
    held: list[socket.socket] = []
    try:
        for family, kind, protocol, _name, address in addresses:
            sock = socket.socket(family, kind, protocol)
            held.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(100)
    except BaseException:
        for sock in held:
            sock.close()
        raise
    return held


def _endpoint_refused(endpoint: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        why = "its port is in use (is another `station run` serving it?)"
    else:
        why = f"cannot listen there ({exc.strerror})"
    return f"OPC UA endpoint {endpoint}: {why}: stop that process or give --opcua URL another port"


def _start_refused(exc: JournalError | OSError, start: _Start) -> str:
    """One line for a start-up that failed as the assembly opened the journal or the server
    listened (the assembly has closed what it had started)."""
    from station.journal import JournalBroken, JournalError, JournalStationMismatch

    if isinstance(exc, JournalBroken):
        return str(exc)  # says where it breaks, and how to go on
    if isinstance(exc, JournalStationMismatch):
        return f"{exc}: give station {start.loaded.model.station} its own --state-dir"
    if isinstance(exc, JournalError):
        if isinstance(exc.__cause__, sqlite3.DatabaseError):
            return f"{exc}: move that file away, or give --state-dir another directory"
        return str(exc)
    if exc.filename is None and start.endpoint is not None:
        return _endpoint_refused(start.endpoint, exc)
    return f"{exc.filename}: {exc.strerror}: move it away, or give --state-dir another directory"


async def _main(args: argparse.Namespace, start: _Start) -> int:
    import structlog

    from station.assembly import Assembly, assemble, freeze_start_up_heap
    from station.journal import JournalError
    from station.notify import notify

    log = structlog.get_logger("run")
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    console = args.console and start.endpoint is not None
    async with contextlib.AsyncExitStack() as stack:
        try:
            assembly: Assembly = await stack.enter_async_context(
                assemble(
                    start.loaded,
                    start.state_dir,
                    simulate=args.simulate,
                    scenario=start.scenario,
                    time_scale=0.02 if args.fast else 1.0,
                    autostart=args.simulate and not args.no_autostart,
                    serve=None
                    if start.endpoint is None
                    else functools.partial(_server, start=start),
                    listeners=start.listeners,
                )
            )
        except (JournalError, OSError) as exc:
            raise _Refused(_start_refused(exc, start)) from exc
        station, server, world = assembly.station, assembly.server, assembly.world
        if console and sys.stdin.isatty():
            # A hangup is the terminal gone: the console with it, and the runtime it showed.
            loop.add_signal_handler(signal.SIGHUP, stop.set)
        else:
            loop.add_signal_handler(
                signal.SIGHUP,
                lambda: loop.create_task(_swap(station, args.config), name="config-reload"),
            )
        # Ready once the station runs, its devices connecting: a device down is a link
        # alarm the station shows, not a failed start (systemd would restart it in a loop
        # while the PLC is off). The OPC UA interface comes up after, and says so itself
        # (`interface_serving`): docs/architecture.md, "Start-up and READY".
        freeze_start_up_heap()
        notify("READY=1")
        log.info(
            "ready",
            station=station.name,
            start_s=round(time.monotonic() - started, 3),
            opcua=server.endpoint if server is not None else None,
            devices_down=sorted(station.devices.down()),
        )
        tasks: list[asyncio.Task[object]] = [asyncio.create_task(_watchdog(), name="watchdog")]
        finished: asyncio.Task[object] | None = None
        if world is not None:
            finished = asyncio.create_task(_world(world, server), name="world")
            tasks.append(finished)
        waiting: list[asyncio.Task[object]] = [asyncio.create_task(stop.wait(), name="stop-signal")]
        if finished is not None and args.exit_when_done:
            waiting.append(finished)
        interface: asyncio.Task[object] | None = None
        if server is not None:
            interface = asyncio.create_task(_interface(server, args, console), name="interface")
            waiting.append(interface)
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        notify("STOPPING=1")
        for task in [*tasks, *waiting]:
            task.cancel()
        await asyncio.gather(*tasks, *waiting, return_exceptions=True)
        for ended in (interface, finished):
            if ended is not None and not ended.cancelled() and (failed := ended.exception()):
                if ended is interface and isinstance(failed, OSError):
                    raise _Refused(_start_refused(failed, start)) from failed
                raise failed
    return 0


def _server(station: Station, *, start: _Start) -> StationServer:
    """The station's OPC UA interface (started by the assembly), with the users file
    `run` checked."""
    from station.interface.server import StationServer

    interface = station.config.model.interface.model_copy(update={"users_file": None})
    return StationServer(
        station,
        interface,
        endpoint=start.endpoint,
        users_file=start.users,
        pki_dir=start.state_dir / "pki",
    )


async def _interface(server: StationServer, args: argparse.Namespace, console: bool) -> None:
    """The OPC UA interface, which comes up after READY: once it serves (the server logs
    `interface_serving`), the console if asked for, to its end; else on to the run's.
    What its start raised ends the run (OSError: its endpoint, refused in one line)."""
    from station.notify import notify

    await server.serving()
    notify(f"STATUS=serving OPC UA at {server.endpoint}")
    if console:
        await _console(server.endpoint, args)
    else:
        await asyncio.Event().wait()


async def _world(world: StationWorld, server: StationServer | None) -> None:
    """The scenario's vehicles, from when the OPC UA interface serves (a console or a
    SCADA sees the first one arrive, as when READY waited for the interface)."""
    if server is not None:
        await server.serving()
    await world.run()


async def _console(endpoint: str, args: argparse.Namespace) -> None:
    """The operator console in its own process, on this terminal, through OPC UA."""
    env = {**os.environ}
    env.setdefault("STATION_PASSWORD", f"{args.console_user}-example")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "station.cli",
        "console",
        "--endpoint",
        endpoint,
        "--user",
        args.console_user,
        env=env,
    )
    try:
        await process.wait()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _swap(station: Station, path: Path) -> None:
    from station.config.loader import ConfigError
    from station.runtime import Refused

    with contextlib.suppress(ConfigError, Refused):  # journaled and alarmed by the station
        await station.request_config(path)


async def _watchdog() -> None:
    from station.notify import notify, watchdog_interval

    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
