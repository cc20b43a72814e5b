"""`station run --config STATION.yaml [--simulate] [--scenario S.yaml] [--console]
[--state-dir DIR] [--opcua URL] [--fast]`: run one station.

Start-up: the config is validated (exit 2 with every error otherwise), the
journal opened in the state directory, the visit in the station restored
from it, every device started in parallel (with `--simulate` each is an
in-process simulator speaking the real protocol on loopback), and the
station's OPC UA interface served. READY=1 goes to systemd then, down links alarmed, whether devices
are connected, WATCHDOG=1 from the main loop while it runs. SIGTERM/SIGINT
stop cleanly (exit 0); SIGHUP re-reads the config file, which is taken when
no vehicle is in the station.

With `--scenario` (or `--vehicles N`), simulated vehicles arrive at the
station and simulated people answer its questions; `--exit-when-done` ends
the run once every vehicle has left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from station.config.loader import LoadedStation
    from station.interface.server import StationServer
    from station.runtime import Station


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
    from station import logs
    from station.config.loader import ConfigError, load_station

    if args.console:
        # The console draws on this terminal: the runtime logs to its state folder.
        from station.state_dir import resolve_state_dir

        log_file = (resolve_state_dir(args.state_dir) / "station.log").open("a", buffering=1)
        logs.configure(args.log_level, file=log_file)
    else:
        logs.configure(args.log_level)
    try:
        loaded = load_station(args.config)
    except ConfigError as exc:
        return exc.report()
    if args.broker is not None:
        from station.uplink.config import Uplink

        try:
            uplink = Uplink.with_broker(loaded.model.uplink, args.broker)
        except ValueError as exc:
            print(f"{args.config}: {exc}", file=sys.stderr)
            return 2
        loaded = dataclasses.replace(
            loaded, model=loaded.model.model_copy(update={"uplink": uplink})
        )
    if (args.scenario or args.vehicles) and not args.simulate:
        print("--scenario and --vehicles need --simulate", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(args, loaded))
    except ConfigError as exc:  # a scenario file
        return exc.report()


async def _main(args: argparse.Namespace, loaded: LoadedStation) -> int:
    import structlog

    from station.assembly import assemble
    from station.devices import NotConnected
    from station.notify import notify
    from station.scenario import generated, load_scenario
    from station.state_dir import resolve_state_dir

    log = structlog.get_logger("run")
    started = time.monotonic()
    scenario = None
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
    elif args.vehicles:
        scenario = generated(args.vehicles, args.seed)
    state_dir = resolve_state_dir(args.state_dir)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with assemble(
        loaded,
        state_dir,
        simulate=args.simulate,
        scenario=scenario,
        time_scale=0.02 if args.fast else 1.0,
        autostart=args.simulate and not args.no_autostart,
        serve=None
        if args.opcua == "off"
        else functools.partial(_server, args=args, state_dir=state_dir),
    ) as assembly:
        station, server, world = assembly.station, assembly.server, assembly.world
        loop.add_signal_handler(
            signal.SIGHUP,
            lambda: loop.create_task(_swap(station, args.config), name="config-reload"),
        )
        try:
            await station.devices.wait_connected(10.0)
        except NotConnected as exc:
            log.error("devices_not_connected", detail=str(exc))  # the station shows it too
        notify("READY=1")
        log.info(
            "ready",
            station=station.name,
            start_s=round(time.monotonic() - started, 3),
            opcua=server.endpoint if server is not None else None,
        )
        tasks: list[asyncio.Task[object]] = [asyncio.create_task(_watchdog(), name="watchdog")]
        finished: asyncio.Task[object] | None = None
        if world is not None:
            finished = asyncio.create_task(world.run(), name="world")
            tasks.append(finished)
        waiting: list[asyncio.Task[object]] = [asyncio.create_task(stop.wait(), name="stop-signal")]
        if finished is not None and args.exit_when_done:
            waiting.append(finished)
        if args.console and server is not None:
            waiting.append(asyncio.create_task(_console(server.endpoint, args), name="console"))
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        notify("STOPPING=1")
        for task in [*tasks, *waiting]:
            task.cancel()
        await asyncio.gather(*tasks, *waiting, return_exceptions=True)
        if finished is not None and not finished.cancelled() and finished.exception():
            raise finished.exception()  # type: ignore[misc]
    return 0


def _server(station: Station, *, args: argparse.Namespace, state_dir: Path) -> StationServer:
    """The station's OPC UA interface (started by the assembly). Simulated stations
    without a users file on this machine serve it read only, so a demo or a bench
    runs anywhere."""
    from station.interface.server import StationServer

    interface = station.config.model.interface
    users = args.users
    if users is None and interface.users_file is not None:
        configured = station.config.path.parent / interface.users_file
        if args.simulate and not configured.exists():
            interface = interface.model_copy(update={"users_file": None})
    return StationServer(
        station, interface, endpoint=args.opcua, users_file=users, pki_dir=state_dir / "pki"
    )


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
