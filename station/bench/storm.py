"""Benchmark of the OPC UA interface under a storm: `python -m station.bench.storm
[--logins N] [--browses N] [--calls N] [--json]`, figures as JSON on stdout.

The photo studio runs on simulated devices (its PLC over Modbus TCP at a 10 ms poll,
links stale after 0.3 s without a good poll; the turntable; the readers) with its OPC
UA server, vehicles arriving one after the other. Once a cycle is under way, another
process (asyncua clients, as an attacker's would be; at nice 19, since on the plant its
CPU would be another machine's, not the station's 2 cores)
sends wrong-password logins (guessing at the users' names), anonymous browse requests
and anonymous method calls (refused), `CONCURRENCY` at a time. A ticker in the
station's control loop (1 ms sleeps) measures the loop's longest stall while the
storm lasts.

Figures: `max_stall_ms` (target <= 5), `cycles_aborted` and `links_stale` (both must
be 0), what the journal holds of the storm (`login_refused`, `refused`,
`refusals_counted` events), the attack's counts and duration. Speed is a bench figure:
quote several runs, the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "stations" / "photo-studio.yaml"
TIME_SCALE = 0.05
"""Simulated physical times shrunk, so that a cycle takes seconds."""
NAMES = ("alice", "olga", "sam", "max")
"""Users of the storm's users file, whose names the attacker guesses at."""
TICK_S = 0.001
CONCURRENCY = 25
"""Requests (or logins) the attacker has in flight at once."""
VEHICLES = 20
"""More than the storm lasts: vehicles keep coming while it does."""


class _Ticker:
    """The longest lateness of a 1 ms sleep in this loop: how long it stalled."""

    def __init__(self) -> None:
        self.max_s = 0.0

    async def run(self) -> None:
        while True:
            began = time.monotonic()
            await asyncio.sleep(TICK_S)
            self.max_s = max(self.max_s, time.monotonic() - began - TICK_S)


async def storm(
    logins: int, browses: int, calls: int, state: Path, *, freeze: bool = True
) -> dict[str, Any]:
    """Run the photo studio under the storm; the figures. `freeze`: as `station run`
    does (a test leaves its process's heap as it is)."""
    from station.assembly import assemble, freeze_start_up_heap
    from station.config.loader import load_station
    from station.interface.server import StationServer
    from station.interface.users import add_user
    from station.journal import Event
    from station.runtime import Station
    from station.scenario_mix import generated
    from station.simulation.ports import free_port

    loaded = load_station(CONFIG)
    users = state / "users.yaml"
    for name in NAMES:
        add_user(users, name, "operator", f"{name}-storm-password")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/station"

    def serve(station: Station) -> StationServer:
        interface = loaded.model.interface
        return StationServer(
            station, interface, endpoint=endpoint, users_file=users, pki_dir=state / "pki"
        )

    plan = generated(VEHICLES, seed=7, fail_share=0.0, noread_share=0.0)
    seen: Counter[str] = Counter()
    cycling = asyncio.Event()

    def on_event(event: Event) -> None:
        seen[event.kind] += 1
        if event.kind == "cycle_started":
            cycling.set()
        elif event.kind == "state" and event.result == "Aborting":
            seen["aborted"] += 1
        elif event.kind == "alarm_raised" and (event.result or "").startswith("link:"):
            seen["stale"] += 1

    ticker = _Ticker()
    async with assemble(
        loaded, state, simulate=True, scenario=plan, time_scale=TIME_SCALE, serve=serve
    ) as built:
        station, world = built.station, built.world
        assert world is not None and built.server is not None
        await built.server.serving()
        station.on_event(on_event)
        await station.devices.wait_connected(10)
        if freeze:
            freeze_start_up_heap()  # as `station run` does once up
        tasks = [asyncio.create_task(world.run(), name="storm-world")]
        try:
            async with asyncio.timeout(60):
                await cycling.wait()
            tasks.append(asyncio.create_task(ticker.run(), name="storm-ticker"))
            before = Counter(seen)
            attack = await _attack_process(endpoint, logins, browses, calls)
            stall_s = ticker.max_s
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    after = seen - before  # the storm's own, and the stop's counts
    return {
        "max_stall_ms": round(stall_s * 1000, 1),
        "cycles_completed": after["cycle_ended"],
        "cycles_aborted": seen["aborted"],
        "links_stale": seen["stale"],
        "journaled": {
            kind: after[kind] for kind in ("login_refused", "refused", "refusals_counted")
        },
        "attack": attack,
    }


async def _attack_process(endpoint: str, logins: int, browses: int, calls: int) -> Any:
    # nice 19: on the plant the attacker's CPU is another machine's, here it shares ours
    argv = ["nice", "-n", "19", sys.executable, "-m", "station.bench.storm", "--attack", endpoint]
    argv += ["--logins", str(logins), "--browses", str(browses), "--calls", str(calls)]
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(300):
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the attack process ended with {process.returncode}")
    return json.loads(out)


async def attack(endpoint: str, logins: int, browses: int, calls: int) -> dict[str, Any]:
    """The storm, from asyncua clients: its counts and duration."""
    from asyncua import ua
    from asyncua.client.client import Client

    from station.interface import NAMESPACE_URI

    slots = asyncio.Semaphore(CONCURRENCY)
    refused = {"logins": 0, "calls": 0}

    async def login(index: int) -> None:
        async with slots:
            client = Client(endpoint, timeout=30)
            client.set_user(NAMES[index % len(NAMES)])
            client.set_password("not-the-password")
            try:
                await client.connect()
            except Exception:
                refused["logins"] += 1
            else:
                await client.disconnect()

    began = time.monotonic()
    await asyncio.gather(*(login(i) for i in range(logins)))
    anonymous = Client(endpoint, timeout=30)
    await anonymous.connect()
    try:
        ns = await anonymous.get_namespace_index(NAMESPACE_URI)
        request = ua.CallMethodRequest()
        request.ObjectId = ua.NodeId(ua.String("Station.BaseStateMachine"), ua.Int16(ns))
        request.MethodId = ua.NodeId(ua.String("Station.BaseStateMachine.Stop"), ua.Int16(ns))

        async def browse() -> None:
            async with slots:
                await anonymous.nodes.objects.get_children()

        async def call() -> None:
            async with slots:
                (result,) = await anonymous.uaclient.call([request])
                refused["calls"] += not result.StatusCode.is_good()

        await asyncio.gather(*(browse() for _ in range(browses)), *(call() for _ in range(calls)))
    finally:
        await anonymous.disconnect()
    return {
        "logins": logins,
        "logins_refused": refused["logins"],
        "browses": browses,
        "calls": calls,
        "calls_refused": refused["calls"],
        "duration_s": round(time.monotonic() - began, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m station.bench.storm", description=__doc__)
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--browses", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one line of JSON (default: indented)")
    parser.add_argument("--attack", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from station import logs

    logs.configure("error")
    if args.attack:
        figures = asyncio.run(attack(args.attack, args.logins, args.browses, args.calls))
    else:
        with tempfile.TemporaryDirectory(prefix="station-storm-") as state:
            figures = asyncio.run(storm(args.logins, args.browses, args.calls, Path(state)))
    print(json.dumps(figures) if args.json or args.attack else json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
