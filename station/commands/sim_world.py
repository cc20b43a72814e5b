"""`station sim world --config STATION.yaml [--scenario S.yaml] [--fast] [--bind HOST]
[--bench-config OUT.yaml] [--control PATH]`: every device of a station simulated in
one process on real ports, for a hardware-in-the-loop bench.

The simulators listen on `--bind` (127.0.0.1 by default), each on the port
`--port NAME=PORT` gives or one the OS chooses, the serial readers over TCP. A
bench copy of the station file pointing at them is written
(`station.simulation.bench_copy`), with a users file beside it holding the
simulated people; `station run --config OUT.yaml` (no `--simulate`: the
unchanged controller, in another process or on the station PC) then runs
against the bench. The world is the one `station run --simulate` builds
(`station.simulation.world`, its floor and people), seeing and commanding the
station over its OPC UA interface (`station.simulation.remote`): the
scenario's vehicles come one after the other; without a scenario the people
only start and recover the station.

The bench engineer's commands (`station.simulation.bench_control`) are read on
stdin and, with `--control PATH`, on a unix socket there. SIGTERM or SIGINT
stop it (exit 0). Bad input (a station or scenario file, a port in use, a
host not of this machine, a bad --control or --bench-config path) is refused
before anything starts: one line each on stderr, exit 2. Exit 1 when the
station refuses the simulated people's login (it does not run the bench copy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import socket
import sys
from pathlib import Path

from station import logs
from station.commands.refusal import Refused
from station.config.loader import ConfigError, LoadedStation, load_station
from station.scenario import Scenario, check_scenario, load_scenario

DEFAULT_STATE = Path("bench-state")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, metavar="STATION.yaml")
    parser.add_argument("--scenario", type=Path, metavar="S.yaml", help="the vehicles that come")
    parser.add_argument(
        "--fast", action="store_true", help="shrink simulated physical times (x0.02)"
    )
    parser.add_argument(
        "--bind", default="127.0.0.1", metavar="HOST", help="address the simulators listen on"
    )
    parser.add_argument(
        "--advertise",
        metavar="HOST",
        help="address the bench copy names (default: --bind, or this machine's name "
        "when --bind is 0.0.0.0)",
    )
    parser.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="DEVICE=PORT",
        help="a device's port (repeatable; default: any free port)",
    )
    parser.add_argument(
        "--bench-config",
        type=Path,
        metavar="OUT.yaml",
        help="bench copy of the station file (default: STATE/<station>.yaml)",
    )
    parser.add_argument(
        "--opcua",
        metavar="URL",
        help="the station's OPC UA endpoint, written in the bench copy, where the "
        "simulated people log in (default: the station file's)",
    )
    parser.add_argument("--control", type=Path, metavar="PATH", help="unix socket for commands")
    parser.add_argument(
        "--hold", action="store_true", help="hold the vehicles back until `next` or `release`"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE,
        help=f"tags and certificates of the simulators (default ./{DEFAULT_STATE})",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")


class _Refused(Refused):
    """Bad input: one line each on stderr, exit 2."""

    COMMAND = "station sim world"


def run(args: argparse.Namespace) -> int:
    from station.simulation.bench_control import ControlPathError, check_control_path

    try:
        loaded = load_station(args.config)
        scenario = _scenario(args, loaded)
        ports = _ports(args.port, loaded)
        _check_listen(args.bind, ports)
        if args.control is not None:
            check_control_path(args.control)
        state_dir = _state_dir(args.state_dir)
        out = _bench_config(args, loaded, state_dir)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    except ControlPathError as exc:
        return _Refused(str(exc)).report()
    except _Refused as exc:
        return exc.report()
    logs.configure(args.log_level)
    try:
        return asyncio.run(_main(args, loaded, scenario, ports, state_dir, out))
    except _Refused as exc:
        return exc.report()


def _scenario(args: argparse.Namespace, loaded: LoadedStation) -> Scenario:
    if args.scenario is None:
        return Scenario.model_construct(vehicles=[], misroutes=[], takt_s=0.0)
    scenario = load_scenario(args.scenario)
    problems = check_scenario(scenario, loaded.line, {loaded.model.station: loaded}, args.scenario)
    if problems:
        raise _Refused(*problems)
    return scenario


def _ports(specs: list[str], loaded: LoadedStation) -> dict[str, int]:
    ports: dict[str, int] = {}
    devices = loaded.model.devices
    for spec in specs:
        name, sep, port = spec.partition("=")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise _Refused(f"--port {spec!r:.60}: expected DEVICE=PORT with PORT 0..65535")
        if name not in devices:
            known = ", ".join(devices) or "none"
            raise _Refused(
                f"--port {spec!r:.60}: no device {name!r:.40} in {loaded.path} (devices: {known})"
            )
        ports[name] = int(port)
    return ports


def _check_listen(host: str, ports: dict[str, int]) -> None:
    """_Refused unless every given port (and any port, for the others) can be listened
    on at `host`."""
    for name, port in [("--bind", 0), *ports.items()]:
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise _Refused(
                f"--bind {host!r:.60}: host not found ({exc.strerror}): give an IP address "
                "of this machine (0.0.0.0: all of them)"
            ) from None
        family, kind, protocol, _name, address = addresses[0]
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                where = f"--bind {host}" if name == "--bind" else f"--port {name}={port}"
                raise _Refused(f"{where}: {_why(exc)}") from None


def _why(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use: stop what listens there or choose another port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine: give one of its addresses or 0.0.0.0"
    if exc.errno == errno.EACCES:
        return "permission denied: choose a port of 1024 or more"
    return exc.strerror or str(exc)


def _state_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise _Refused(f"--state-dir {path}: {exc.strerror}: give a folder you may write") from None
    return path.resolve()


def _bench_config(args: argparse.Namespace, loaded: LoadedStation, state_dir: Path) -> Path:
    out: Path = args.bench_config or state_dir / f"{loaded.model.station}.yaml"
    if not out.parent.is_dir():
        raise _Refused(f"--bench-config {out}: no directory {out.parent}: create it first")
    if out.resolve() == loaded.path.resolve():
        raise _Refused(f"--bench-config {out}: is the station file itself: give another path")
    return out


async def _main(
    args: argparse.Namespace,
    loaded: LoadedStation,
    scenario: Scenario,
    ports: dict[str, int],
    state_dir: Path,
    out: Path,
) -> int:
    import structlog

    from station.interface.client import LoginRefused
    from station.simulation import bench_control
    from station.simulation.bench_copy import users_path, write_bench_copy, write_people
    from station.simulation.devices import Serving, SimulatedDevices
    from station.simulation.remote import RemoteStation
    from station.simulation.world import StationWorld

    log = structlog.get_logger("sim_world")
    time_scale = 0.02 if args.fast else 1.0
    sims = SimulatedDevices(
        loaded, time_scale=time_scale, state_dir=state_dir, serving=Serving(args.bind, ports)
    )
    endpoint = args.opcua or loaded.model.interface.endpoint
    advertise = args.advertise or (
        socket.getfqdn() if args.bind in ("0.0.0.0", "::") else args.bind
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(sims.stop)
        try:
            await sims.start()
        except OSError as exc:
            raise _Refused(f"--bind {args.bind}: {_why(exc)}") from exc
        passwords = write_people(users_path(out))
        write_bench_copy(
            loaded,
            sims.endpoints(),
            out,
            station_endpoint=endpoint,
            advertise=advertise,
            bind=args.bind,
        )
        station = RemoteStation(loaded, endpoint, passwords)
        control = bench_control.WorldControl(station, sims, scenario, held=args.hold)
        world = StationWorld(station, sims, scenario, time_scale=time_scale, gate=control.gate)
        control.world = world
        if args.control is not None:
            await stack.enter_async_context(
                bench_control.serve_socket(args.control, control.handle)
            )
        for name, fields in sims.endpoints().items():
            where = (
                fields.get("endpoint") or fields.get("url") or f"{fields['host']}:{fields['port']}"
            )
            print(f"station sim world: {name} ({loaded.model.devices[name].driver}) on {where}")
        print(
            f"station sim world: {len(scenario.vehicles)} vehicle(s); the station is expected "
            f"at {endpoint}; commands on stdin"
            + (f" and {args.control}" if args.control is not None else "")
            + " (help)"
        )

        async def feed() -> None:
            await world.run()
            control.done = True
            print(f"station sim world: scenario done: {world.results}", flush=True)
            async with world.floor.open():  # the people still recover the station
                await asyncio.Event().wait()

        tasks = [
            asyncio.create_task(station.run(), name="remote-station"),
            asyncio.create_task(feed(), name="world"),
            asyncio.create_task(bench_control.serve_stdin(control.handle), name="stdin"),
        ]
        stopped = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.sleep(0)  # every task started: a signal from now on stops them all
        print(f"station sim world: ready, bench config {out}", flush=True)
        log.info("ready", station=loaded.model.station, bench_config=str(out))
        await asyncio.wait([stopped, *tasks[:2]], return_when=asyncio.FIRST_COMPLETED)
        for task in [stopped, *tasks]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseExceptionGroup):
                refused = result.subgroup(LoginRefused)
                if refused is not None:
                    print(
                        f"station sim world: the station at {endpoint} refused the simulated "
                        f"people ({refused.exceptions[0]}): run it with --config {out}",
                        file=sys.stderr,
                    )
                    return 1
            if isinstance(result, Exception):
                raise result
    return 0
