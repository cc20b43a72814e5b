"""Benchmark of one station runtime: `python -m station.bench.station [--vehicles N] [--json]`.

Figures (printed as JSON):

- cycle overhead: the exit station (barcode on a pty, RFID over TCP, PLC over
  Modbus TCP at a 10 ms poll, a checklist answered at once, tag write with
  read-back, release) with the simulators' physical times shrunk to almost
  nothing (time scale 1e-4), so what is left is the controller: protocol round
  trips, poll periods, journal commits (synchronous=FULL), the state machine.
  Cycles per second, journal events per cycle and per second. (The turntable is
  left out: a drive model cannot turn at 10,000 times its speed and still stop
  on an angle.)
- RSS of the process running that station and its simulators, after the run.
- time from start to ready of `station run --simulate` as a separate process
  (imports, simulators, devices connecting), from exec to the `ready` log line,
  the runtime's own figure (`start_s`, after imports), and from exec to its OPC UA
  interface serving (`interface_serving`, which comes after READY).
- `served` (`--runs N`, default 3): `station run` on devices another process serves,
  its memory (PSS, with its OPC UA server's process) and exec to READY against the
  issue's targets (90 MiB, 1.0 s): `station.bench.station_process`.

Speed is a benchmark figure, never a unit-test assertion: quote medians of
several runs; the CI machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from station.bench.station_process import on_served_devices
from station.commands.run import command_line
from station.simulation.ports import free_port

STATIONS = Path(__file__).resolve().parents[2] / "configs" / "stations"
CONFIG = STATIONS / "photo-studio.yaml"
OVERHEAD = STATIONS / "exit.yaml"


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def cycle_overhead(vehicles: int, state: Path) -> dict[str, float]:
    from station.assembly import assemble
    from station.config.loader import load_station
    from station.scenario_mix import generated

    scale = 1e-4
    loaded = load_station(OVERHEAD)
    plan = generated(vehicles, seed=7, fail_share=0.0, noread_share=0.0)
    async with assemble(loaded, state, simulate=True, scenario=plan, time_scale=scale) as built:
        station, journal, world = built.station, built.journal, built.world
        assert world is not None
        await station.devices.wait_connected(10)
        first = len(journal.events())
        cpu0, wall0 = time.process_time(), time.monotonic()
        await world.run()
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
        events = len(journal.events()) - first
        cycles = len(world.results)
        rss = _rss_mib()
    return {
        "vehicles": cycles,
        "cycles_per_s": round(cycles / wall, 2),
        "s_per_cycle": round(wall / cycles, 3),
        "cpu_s_per_cycle": round(cpu / cycles, 3),
        "events_per_cycle": round(events / cycles, 1),
        "events_per_s": round(events / wall, 1),
        "rss_mib": round(rss, 1),
    }


def start_to_ready(state: Path) -> dict[str, float]:
    port = free_port()
    began = time.monotonic()
    process = subprocess.Popen(
        command_line(CONFIG, state, simulate=True, opcua=f"opc.tcp://127.0.0.1:{port}/station"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    figures: dict[str, float] = {}
    try:
        for line in process.stderr:
            if '"ready"' in line:
                figures["exec_to_ready_s"] = round(time.monotonic() - began, 3)
                figures["runtime_start_s"] = json.loads(line)["start_s"]
            elif '"interface_serving"' in line:
                figures["exec_to_interface_s"] = round(time.monotonic() - began, 3)
                return figures
        raise RuntimeError("station exited before its interface served")
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stderr.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument(
        "--runs", type=int, default=3, help="starts of the station on served devices"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document (default)")
    args = parser.parse_args()
    from station import logs

    logs.configure("warning")
    with tempfile.TemporaryDirectory() as tmp:
        figures = {
            "cycle": asyncio.run(cycle_overhead(args.vehicles, Path(tmp))),
            "startup": start_to_ready(Path(tmp) / "b"),
            "served": on_served_devices(CONFIG, Path(tmp), args.runs),
        }
    print(json.dumps(figures, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
