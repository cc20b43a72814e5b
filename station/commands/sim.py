"""`station sim DEVICE --config STATION.yaml [--listen HOST:PORT | --pty PATH] [--device NAME]`:
run one device's simulator standalone, for a bench.

The device section is taken from the station file: the one device whose
driver serves DEVICE (`--device NAME` chooses when there are several). The
simulator runs until SIGTERM or SIGINT, which is a clean stop (exit 0). Exit
2, with one line on stderr saying what to do, for a bad config, a device that
cannot be chosen, a simulator that refuses its arguments, a bad HOST:PORT, a
port already in use, an address that is not this machine's, a host that does
not resolve, or a --pty path that cannot be made (no such directory, or
something that is not a link already there). Simulators are imported only
here, when they run (each device type names its own: `station.device_types`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
from collections.abc import Coroutine
from typing import Any

from hal.config import DeviceConfig
from station import logs
from station.config.loader import ConfigError, load_station
from station.config.models import StationFile
from station.device_types import DEVICE_TYPES, by_word


class DeviceChoiceError(Exception):
    """No device, or several, fit the request; the message says which exist."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "device_kind",
        choices=[t.word for t in DEVICE_TYPES],
        metavar="DEVICE",
        help=f"one of: {', '.join(t.word for t in DEVICE_TYPES)} "
        "(or world: every device of the station, see `station sim world --help`)",
    )
    parser.add_argument(
        "--config",
        required=True,
        metavar="STATION.yaml",
        help="station file holding the device's section",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve TCP here (port 0: any free port, printed)",
    )
    where.add_argument(
        "--pty", metavar="PATH", help="create a pseudo-terminal and link its device at PATH"
    )
    parser.add_argument(
        "--device", metavar="NAME", help="the device's name in the station file, when several fit"
    )


def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); ValueError saying what is expected."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(
            f"--listen {text!r}: expected HOST:PORT with PORT 0..65535, "
            "e.g. 127.0.0.1:5020 (PORT 0: any free port)"
        )
    return host.strip("[]"), int(port)


def pick_device(station: StationFile, driver: str, name: str | None) -> tuple[str, DeviceConfig]:
    """The station's device served by `driver`: the only one, or the one named."""
    present = ", ".join(f"{n} ({d.driver})" for n, d in station.devices.items()) or "none"
    if name is not None:
        device = station.devices.get(name)
        if device is None:
            raise DeviceChoiceError(f"no device {name!r} in station {station.station} ({present})")
        if device.driver != driver:
            raise DeviceChoiceError(f"device {name!r} is a {device.driver}, not a {driver}")
        return name, device
    fitting = [n for n, d in station.devices.items() if d.driver == driver]
    if not fitting:
        raise DeviceChoiceError(
            f"no {driver} device in station {station.station} (devices: {present})"
        )
    if len(fitting) > 1:
        raise DeviceChoiceError(
            f"several {driver} devices in station {station.station}: {', '.join(fitting)}; "
            "choose one with --device NAME"
        )
    return fitting[0], station.devices[fitting[0]]


def load_device(path: str, driver: str, name: str | None) -> tuple[str, DeviceConfig] | None:
    """The station file's device for a command (see `pick_device`); None once every
    reason why not has been printed to stderr (the command exits 2)."""
    try:
        station = load_station(path).model
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
    try:
        return pick_device(station, driver, name)
    except DeviceChoiceError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    kind = by_word(args.device_kind)
    driver = kind.driver
    try:
        listen = None if args.listen is None else parse_listen(args.listen)
    except ValueError as exc:
        print(f"station sim {args.device_kind}: {exc}", file=sys.stderr)
        return 2
    found = load_device(args.config, driver, args.device)
    if found is None:
        return 2
    name, config = found
    try:
        serve = kind.standalone()
    except ModuleNotFoundError as exc:
        print(f"no {args.device_kind} simulator in this build ({exc})", file=sys.stderr)
        return 2
    logs.configure()  # the simulator's and pymodbus' or asyncua's lines, on stderr
    where = args.listen or args.pty or "default"
    print(f"station sim {args.device_kind}: device {name} ({driver}) on {where}", flush=True)
    try:
        asyncio.run(_serve_until_signal(serve(config, listen, args.pty)))
    except ValueError as exc:
        print(f"station sim {args.device_kind}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"station sim {args.device_kind}: {_cannot_serve(exc, args)}", file=sys.stderr)
        return 2
    return 0


_PTY_ADVICE = {
    errno.ENOENT: "no directory {directory}: create it or give a path in an existing directory",
    errno.EEXIST: "exists and is not a symlink, so it is not replaced: "
    "give a path where nothing is (a symlink there is repointed)",
}
_LISTEN_ADVICE = {
    errno.EADDRINUSE: "the port is already in use: stop what listens there "
    "or choose another port (PORT 0: any free port)",
    errno.EADDRNOTAVAIL: "not an address of this machine: give one of its addresses, "
    "0.0.0.0 (all of them) or 127.0.0.1 (this machine only)",
    errno.EACCES: "permission denied: ports below 1024 need privileges; "
    "choose a port of 1024 or more",
}


def _cannot_serve(exc: OSError, args: argparse.Namespace) -> str:
    """Why the simulator could not listen or make its pty, and what to do, in one line."""
    if args.pty is not None:
        advice = _PTY_ADVICE.get(exc.errno or 0, exc.strerror or str(exc))
        return f"--pty {args.pty}: " + advice.format(directory=os.path.dirname(args.pty) or ".")
    if isinstance(exc, socket.gaierror):
        return (
            f"--listen {args.listen}: host not found ({exc.strerror}): "
            "give an IP address of this machine (0.0.0.0: all of them)"
        )
    advice = _LISTEN_ADVICE.get(exc.errno or 0, exc.strerror or str(exc))
    return f"--listen {args.listen or 'default'}: {advice}"


async def _serve_until_signal(simulator: Coroutine[Any, Any, None]) -> None:
    """Run the simulator; SIGTERM and SIGINT cancel it, which is a clean stop."""
    task = asyncio.create_task(simulator, name="sim")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
