"""Line benchmarks: `python -m station.bench.line {plant,density} [options] [--json]`.

`plant`: plant days on this machine, each the product's command `station line
--config ... --simulate --vehicles N --seed S --fast --json` run in a process of its
own (`station.bench.line_runs`) and measured from outside, one after the other:
- `line1`: `--vehicles` (180) through the 11 stations of line 1 (target 120 s);
- `line1-doubled`: twice as many through line 1 doubled (two photo studios ...),
  `configs/lines/line1-doubled.yaml` (target 180 s);
- `four-lines`: `--vehicles` in all over lines 1 to 4 side by side (each line file
  gets a quarter: `station line` gives each of several lines `--vehicles` of its
  own, each in a `station line` process of its own), target 300 s.
`--runs` picks some. Per run: the command, vehicles in all and per line, exit code,
wall time, CPU time (user + system) and peak RSS (the largest process's) of the
`station line` process and of every process it started (os.wait4), the target and
`within_target` (exit 0, conservation ok, wall within the target), the released and
held counts, unexpected finals, the first conservation problems, and per line its
own wall time, its start (stations and simulators up) and its busiest station (the
share of the line's moving time a vehicle was in it, the median time a vehicle: the
line's bottleneck). Each row is also printed on stderr as its run ends.

`density`: how many station runtimes one machine holds while the
event-to-actuation p99 stays under `--limit-ms` (50) at the stations' 10 ms
PLC poll. Each unit is a photo-studio station (configs/stations/photo-studio.yaml:
PLC polled every 10 ms, turntable drive every 20 ms, barcode reader on a pty,
RFID head on TCP) with its own simulators on loopback, its own journal, running
in Execute and waiting for a vehicle: at the plant's takt (6 minutes a vehicle
at the studio) a cycle's work is a few milliseconds of CPU now and then, and
the polls are the steady load. The simulators run beside each station and their
CPU is counted: a pessimistic figure (a real PLC is another box). Unit 0 gets a
probe: an extra input and output joined by a reflex (debounce 0), toggled on
its simulated PLC at a random phase of the poll while all units run; the
latency is from the input's change to the simulator taking the reflex's output
write (the `station diag latency` probe); `probe_state` says whether that
station was still running (Execute) at the end.

Two placements, `--mode`, each run in fresh processes started by this one
(`... density-host --units K`, this process only measures):
- `process` (the deployment: one `station` service per station): N processes
  of one unit each, each with its own event loop; RSS and PSS per process.
- `inprocess` (as `station line` runs a line): one process of N units, one
  event loop (so at most one core); RSS per unit is the growth of that
  process over its RSS after the imports, divided by N.
CPU is that of every host process over the probe's measurement.

N goes 1, 2, 4, 8, 16 ... while the p99 holds, then bisects between the last
N that held and the first that did not. A run whose probe times out (a
station that lost its PLC link under load, say), or whose hosts do not all
reach Execute in time, did not hold; its row says why.

A benchmark measures and reports; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hal.config import InputPoint, ModbusPlcConfig, OutputPoint, Reflex
from station.assembly import Assembly, assemble
from station.bench.line_runs import RUNS, plant
from station.commands.diag_latency import Figures, _Probe
from station.config.loader import LoadedStation, load_station
from station.fsm import State
from station.runtime import Station
from station.simulation.devices import SimulatedDevices

CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
UNIT = CONFIGS / "stations" / "photo-studio.yaml"
PROBE_IN, PROBE_OUT = "bench_probe", "bench_probe_lamp"
START_TIMEOUT_S = 20.0
"""Longest wait for one unit to reach Execute (plus a share per unit under load)."""
PROBE_TIMEOUT_S = 2.0
"""Longest wait for one reflex write; longer and the run did not hold."""


# --- one unit: a photo-studio station with its simulators --------------------------------


def probed_config() -> LoadedStation:
    """The photo studio with the probe's input, output and reflex on its PLC."""
    loaded = load_station(UNIT)
    plc = loaded.model.devices["plc"]
    assert isinstance(plc, ModbusPlcConfig)
    free_input = 1 + max(p.address for p in plc.inputs.values() if p.table == "discrete_input")
    free_coil = 1 + max(p.address for p in plc.outputs.values() if p.table == "coil")
    probed = plc.model_copy(
        update={
            "inputs": {
                **plc.inputs,
                PROBE_IN: InputPoint(table="discrete_input", address=free_input),
            },
            "outputs": {**plc.outputs, PROBE_OUT: OutputPoint(table="coil", address=free_coil)},
            "reflexes": [*plc.reflexes, Reflex(input=PROBE_IN, output=PROBE_OUT)],
        }
    )
    devices = {**loaded.model.devices, "plc": probed}
    return dataclasses.replace(loaded, model=loaded.model.model_copy(update={"devices": devices}))


async def in_execute(station: Station, timeout: float) -> None:
    """Wait until the station runs (Execute), waiting for a vehicle."""
    changed = asyncio.Event()
    station.on_change(changed.set)
    async with asyncio.timeout(timeout):
        while station.state is not State.EXECUTE:
            changed.clear()
            await changed.wait()


async def probe_reflex(sims: SimulatedDevices, samples: int, seed: int) -> list[float]:
    """Reflex latencies (s) of `samples` input edges at random phases of the poll, on
    the probed station's simulated PLC."""
    from hal.modbus.plc import reflex_value

    plc_config = sims.loaded.model.devices["plc"]
    assert isinstance(plc_config, ModbusPlcConfig)
    reflex = next(r for r in plc_config.reflexes if r.input == PROBE_IN)
    output = plc_config.outputs[PROBE_OUT]
    probe = _Probe(
        sims.plcs["plc"],
        reflex,
        lambda value: reflex_value(reflex, output, value),
        PROBE_TIMEOUT_S,
        random.Random(seed),
    )
    await probe.settled()
    return await probe.samples(samples, plc_config.poll_interval_ms / 1000)


def rss_kib(pid: int | str = "self") -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB, from /proc."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    with contextlib.suppress(FileNotFoundError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# --- density: hosts of units -------------------------------------------------------------------


async def host(units: int, probe: bool, samples: int, seed: int) -> None:
    """`density-host`: run `units` units in this process. When all are in Execute print
    `ready {"baseline_kib": RSS before the first unit}`; with the probe, on `go` probe
    unit 0 and print `{"latencies": [...], "state": ...}`; stop at the end of stdin."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    loaded = probed_config()
    baseline, _ = rss_kib()
    with tempfile.TemporaryDirectory(prefix="bench-host-") as folder:
        async with contextlib.AsyncExitStack() as stack:
            started: list[Assembly] = []
            for index in range(units):
                unit_dir = Path(folder) / f"unit{index}"
                unit_dir.mkdir()
                unit = await stack.enter_async_context(assemble(loaded, unit_dir, simulate=True))
                await in_execute(unit.station, START_TIMEOUT_S + units)
                started.append(unit)
            print("ready", json.dumps({"baseline_kib": baseline}), flush=True)
            if probe and (await reader.readline()).strip() == b"go":
                probed = started[0]
                assert probed.sims is not None
                try:
                    latencies = await probe_reflex(probed.sims, samples, seed)
                except TimeoutError:
                    latencies = []
                state = str(probed.station.state)
                print(json.dumps({"latencies": latencies, "state": state}), flush=True)
            await reader.read()  # until the bench closes our stdin


async def measure(mode: str, count: int, samples: int, seed: int) -> dict[str, Any]:
    """One run with `count` units: one host each (`process`) or one host of all."""
    per_host = [1] * count if mode == "process" else [count]
    row: dict[str, Any] = {"stations": count, "processes": len(per_host)}
    with tempfile.TemporaryDirectory(prefix="bench-density-") as folder:
        logs = [Path(folder) / f"host{index}.log" for index in range(len(per_host))]
        procs: list[asyncio.subprocess.Process] = []
        try:
            for index, (units, log) in enumerate(zip(per_host, logs, strict=True)):
                options = ["--units", str(units), "--samples", str(samples), "--seed", str(seed)]
                with log.open("wb") as stderr:
                    procs.append(
                        await asyncio.create_subprocess_exec(
                            *(sys.executable, "-m", "station.bench.line", "density-host"),
                            *options,
                            *(["--probe"] if index == 0 else []),
                            stdin=asyncio.subprocess.PIPE,
                            stdout=asyncio.subprocess.PIPE,
                            stderr=stderr,
                        )
                    )
            row |= await _probe_hosts(procs, logs, count, marginal=mode == "inprocess")
        finally:
            for proc in procs:
                if proc.stdin is not None:
                    proc.stdin.close()
            await asyncio.gather(*(proc.wait() for proc in procs))
    return row


async def _probe_hosts(
    procs: list[asyncio.subprocess.Process], logs: list[Path], count: int, *, marginal: bool
) -> dict[str, Any]:
    """Wait for the hosts, probe, measure. RSS per station: a host's growth over its
    baseline divided by `count` (`marginal`), else the median process's."""
    baselines = []
    try:
        async with asyncio.timeout(START_TIMEOUT_S + 3.0 * count):
            for proc, log in zip(procs, logs, strict=True):
                assert proc.stdout is not None
                word, _, rest = (await proc.stdout.readline()).decode().partition(" ")
                if word != "ready":
                    lines = log.read_text(errors="replace").strip().splitlines() or ["no output"]
                    return {"error": f"host {proc.pid} did not start: {lines[-1]}"}
                baselines.append(json.loads(rest)["baseline_kib"])
    except TimeoutError:
        return {"error": f"hosts not ready within {START_TIMEOUT_S + 3.0 * count:.0f} s"}
    memory = [rss_kib(proc.pid) for proc in procs]
    ticks = sum(cpu_ticks(proc.pid) for proc in procs)
    wall = time.monotonic()
    probe = procs[0]
    assert probe.stdin is not None and probe.stdout is not None
    probe.stdin.write(b"go\n")
    await probe.stdin.drain()
    report = json.loads(await probe.stdout.readline())
    window = time.monotonic() - wall
    cores = (sum(cpu_ticks(p.pid) for p in procs) - ticks) / os.sysconf("SC_CLK_TCK") / window
    rss = statistics.median(r for r, _ in memory)
    per_station = (rss - baselines[0]) / count if marginal else rss
    return {
        "latency": vars(Figures.of(report["latencies"])) if report["latencies"] else None,
        "probe_state": report["state"],
        "cpu_cores": round(cores, 3),
        "cpu_per_station_pct": round(100 * cores / count, 2),
        "process_rss_mib": round(rss / 1024, 1),
        "process_pss_mib": round(statistics.median(p for _, p in memory) / 1024, 1),
        "rss_per_station_mib": round(per_station / 1024, 2),
    }


async def density(
    mode: str, limit_ms: float, samples: int, seed: int, largest: int
) -> dict[str, Any]:
    rows: dict[int, dict[str, Any]] = {}

    async def holds(count: int) -> bool:
        row = await measure(mode, count, samples, seed)
        latency = row.get("latency")
        row["holds"] = latency is not None and latency["p99_ms"] < limit_ms
        rows[count] = row
        print(json.dumps(row), file=sys.stderr, flush=True)
        return bool(row["holds"])

    good, bad, count = 0, None, 1
    while count <= largest:
        if not await holds(count):
            bad = count
            break
        good, count = count, count * 2
    while bad is not None and bad - good > max(1, good // 8):
        middle = (good + bad) // 2
        if await holds(middle):
            good = middle
        else:
            bad = middle
    return {
        "bench": "density",
        "mode": mode,
        "unit": str(UNIT.relative_to(CONFIGS.parent)),
        "poll_ms": 10,
        "limit_p99_ms": limit_ms,
        "samples": samples,
        "max_stations": good,
        "first_failing": bad,
        "cpus": os.cpu_count(),
        "runs": [rows[n] for n in sorted(rows)],
    }


# --- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station.bench.line", description=__doc__)
    sub = parser.add_subparsers(dest="bench", required=True)
    day = sub.add_parser("plant", help="plant days: `station line --fast` runs, measured")
    day.add_argument("--runs", nargs="+", choices=tuple(RUNS), default=list(RUNS))
    day.add_argument("--vehicles", type=int, default=180, help="line 1's day (default 180)")
    day.add_argument("--seed", type=int, default=1)
    dens = sub.add_parser("density", help="station runtimes per machine under a latency limit")
    dens.add_argument("--mode", choices=("process", "inprocess"), default="process")
    dens.add_argument("--limit-ms", type=float, default=50.0)
    dens.add_argument("--samples", type=int, default=200)
    dens.add_argument("--max", type=int, default=128, help="largest N tried")
    dens.add_argument("--seed", type=int, default=1)
    for each in (day, dens):
        each.add_argument("--json", action="store_true", help="one JSON document")
    hosting = sub.add_parser("density-host", help="(internal) the units of one `density` process")
    hosting.add_argument("--units", type=int, default=1)
    hosting.add_argument("--probe", action="store_true")
    hosting.add_argument("--samples", type=int, default=200)
    hosting.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import structlog

    from station.logs import current_stderr

    structlog.configure(  # the figures go to stdout; only errors of the stations to stderr
        wrapper_class=structlog.make_filtering_bound_logger(40),
        logger_factory=structlog.PrintLoggerFactory(file=current_stderr()),
    )
    if args.bench == "density-host":
        asyncio.run(host(args.units, args.probe, args.samples, args.seed))
        return 0
    if args.bench == "plant":
        report = plant(args.runs, args.vehicles, args.seed)
    else:
        report = asyncio.run(density(args.mode, args.limit_ms, args.samples, args.seed, args.max))
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
