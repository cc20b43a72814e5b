"""The bench engineer's control surface of `station sim world`: one command a
line, on the process's stdin and on a local unix socket (`--control PATH`),
one JSON answer line per command (`{"ok": true, ...}` or `{"ok": false,
"error": "..."}`). A bad command gets an error line; it never stops the world.

Commands:

    help                      the commands
    state                     the world: the station's state, the vehicle at it, held back
                              or not, the next vehicle, the results so far
    next                      let the next vehicle come (one, while they are held back)
    hold                      hold the next vehicles back (the one at the station goes on)
    release                   let the vehicles come by themselves again
    fault KIND [KEY=VALUE]..  inject a fault now (a scenario fault kind, e.g.
                              `fault plc_link_drop seconds=2`, `fault barcode_noread count=3`)

Every line received is bounded (`MAX_LINE` bytes) before anything prints or
logs it: a longer line is dropped whole and answered with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, get_args

import structlog
from pydantic import ValidationError

from station.scenario import FaultKind, Scenario, ScenarioFault, ScenarioVehicle
from station.simulation.devices import SimulatedDevices
from station.simulation.floor import foreign_vin, tag_uid
from station.simulation.remote import RemoteStation
from station.simulation.world import StationWorld

log = structlog.get_logger("bench_control")

MAX_LINE = 256
"""Longest command line taken, in bytes."""

SHOWN = 40
"""Characters of a bad word quoted back in an error."""

COMMANDS = {
    "help": "the commands",
    "state": "the world's state",
    "next": "let the next vehicle come (one, while they are held back)",
    "hold": "hold the next vehicles back",
    "release": "let the vehicles come by themselves again",
    "fault": "fault KIND [KEY=VALUE ...]: inject now; KIND one of "
    + ", ".join(get_args(FaultKind)),
}

Answer = dict[str, Any]


class ControlPathError(Exception):
    """The --control path cannot be served; the message says why and what to do."""


class WorldControl:
    """Holds the scenario's vehicles back or lets them come, injects faults, shows the
    world (module docstring). `gate` is the world's gate before each vehicle."""

    def __init__(
        self,
        station: RemoteStation,
        sims: SimulatedDevices,
        scenario: Scenario,
        *,
        held: bool = False,
    ) -> None:
        self.station = station
        self.sims = sims
        self.scenario = scenario
        self.world: StationWorld | None = None
        self.held = held
        self.passes = 0
        """Vehicles let through while held back (`next`)."""
        self.waiting: str | None = None
        """The vehicle waiting at the gate."""
        self.done = False
        """Every vehicle of the scenario has been through."""
        self._changed = asyncio.Event()

    async def gate(self, vehicle: ScenarioVehicle) -> None:
        self.waiting = vehicle.vin
        try:
            while self.held and self.passes == 0:
                self._changed.clear()
                await self._changed.wait()
            if self.held:
                self.passes -= 1
        finally:
            self.waiting = None
        log.info("vehicle_comes", vin=vehicle.vin)

    async def handle(self, raw: bytes | None) -> Answer:
        """The answer to one line (None: a line that was too long)."""
        if raw is None:
            return _error(f"line longer than {MAX_LINE} bytes: ignored")
        text = raw.decode("utf-8", errors="replace").strip()
        words = text.split()
        if not words:
            return _error("empty line: send help for the commands")
        log.info("control_command", line=text)  # bounded: MAX_LINE bytes at most
        command, args = words[0].lower(), words[1:]
        if command == "fault":
            return await self._fault(args)
        if command not in COMMANDS:
            return _error(
                f"unknown command {_shown(words[0])}: one of {', '.join(COMMANDS)} (help)"
            )
        if args:
            return _error(f"{command} takes no argument (got {_shown(' '.join(args))})")
        if command == "help":
            return {"ok": True, "commands": COMMANDS}
        if command == "state":
            return {"ok": True, **self.state()}
        if command == "next":
            if not self.held:
                return {"ok": True, "note": "vehicles are not held back: they come by themselves"}
            self.passes += 1
        else:
            self.held = command == "hold"
        self._changed.set()
        return {"ok": True, **self.state()}

    def state(self) -> Answer:
        status = self.station.status
        world = self.world
        results = dict(world.results) if world is not None else {}
        left = [v.vin for v in self.scenario.vehicles if v.vin not in results]
        return {
            "station": self.station.name,
            "connected": status is not None and self.station.connected.is_set(),
            "station_state": status["state"] if status is not None else None,
            "present": world.floor.present if world is not None else None,
            "held_back": self.held,
            "waiting": self.waiting,
            "passes": self.passes,
            "results": results,
            "left": left,
            "done": self.done,
        }

    async def _fault(self, args: list[str]) -> Answer:
        if not args:
            return _error(f"fault needs a KIND: one of {', '.join(get_args(FaultKind))}")
        fields: dict[str, Any] = {"station": self.station.name, "kind": args[0]}
        for pair in args[1:]:
            key, sep, value = pair.partition("=")
            if not sep or key in fields:
                return _error(f"fault: expected KEY=VALUE, got {_shown(pair)}")
            fields[key] = value
        try:
            fault = ScenarioFault.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]
            )
            return _error(f"fault: {_shown(problems, 200)}")
        present = self.world.floor.present if self.world is not None else None
        if fault.kind == "label_mismatch":
            if present is None:
                return _error(
                    "fault label_mismatch: no vehicle at the station to swap the label of"
                )
            self.sims.present(present, tag_uid(present), label=foreign_vin(present))
        else:
            await self.sims.inject(fault)
        log.info("fault_injected", fault=fault.model_dump(), vin=present)
        return {"ok": True, "injected": fault.model_dump(mode="json"), "present": present}


def _error(message: str) -> Answer:
    return {"ok": False, "error": message}


def _shown(text: str, limit: int = SHOWN) -> str:
    """`text` quoted, cut at `limit` characters."""
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


async def bounded_lines(reader: asyncio.StreamReader) -> AsyncIterator[bytes | None]:
    """The lines of `reader` without their newline; None for a line longer than
    MAX_LINE (dropped whole, never held in memory beyond MAX_LINE)."""
    buffer = bytearray()
    dropping = False
    while chunk := await reader.read(4096):
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if dropping or len(line) > MAX_LINE:
                dropping = False
                yield None
            else:
                yield line
        if len(buffer) > MAX_LINE:
            dropping = True
            buffer.clear()
    if buffer and not dropping:
        yield bytes(buffer)
    elif dropping:
        yield None


Handler = Callable[[bytes | None], Awaitable[Answer]]


async def answer_stream(
    reader: asyncio.StreamReader, write: Callable[[bytes], Awaitable[None]], handle: Handler
) -> None:
    """Answer each line of `reader` with one JSON line, until its end."""
    async for line in bounded_lines(reader):
        try:
            answer = await handle(line)
        except Exception as exc:  # a command that failed: said, and the world goes on
            log.exception("control_command_failed")
            answer = _error(f"failed: {type(exc).__name__}: {_shown(str(exc), 200)}")
        await write((json.dumps(answer) + "\n").encode())


async def serve_stdin(handle: Handler) -> None:
    """Commands on stdin, answers on stdout; returns at stdin's end (or at once when
    stdin is not a pipe, a terminal or a socket)."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return  # no stdin
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(0)):
        return  # /dev/null or a file: nothing to wait for
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def write(data: bytes) -> None:
        os.write(1, data)

    await answer_stream(reader, write, handle)


def check_control_path(path: Path) -> None:
    """ControlPathError unless a unix socket can be served at `path`: its folder exists,
    the path fits a socket address, and nothing is there but a stale socket."""
    if len(os.fsencode(path)) > 107:
        raise ControlPathError(f"--control {path}: longer than 107 bytes: give a shorter path")
    if not path.parent.is_dir():
        raise ControlPathError(f"--control {path}: no directory {path.parent}: create it first")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlPathError(f"--control {path}: exists and is not a socket: give another path")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return  # stale: nobody serves it
    raise ControlPathError(f"--control {path}: another process serves it: give another path")


@contextlib.asynccontextmanager
async def serve_socket(path: Path, handle: Handler) -> AsyncIterator[None]:
    """Serve the commands on a unix socket at `path` (mode 0600) while open."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        try:
            await answer_stream(reader, write, handle)
        except ConnectionError:
            pass
        finally:
            writer.close()

    _remove(path)  # a stale one (check_control_path)
    old = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(client, str(path))
    finally:
        os.umask(old)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
        _remove(path)


def _remove(path: Path) -> None:
    """Remove the socket file at `path`, if any (a local file: no wait worth a thread)."""
    path.unlink(missing_ok=True)
