"""`station diag latency --config STATION.yaml --simulate [--json] [--samples N]`:
input-edge to output latency through our PLC driver, beside a bare pymodbus loop.

What is measured: a reflex of the station's PLC (input -> output, the first
one unless `--reflex` names its input). The input is toggled on a simulated
PLC in this process, and the time runs until the simulator takes the
reflex's output write (its request hook stamps it). Two paths, in the same
run and against the same simulator, in alternating blocks:
- `station`: our `ModbusPlc` driver polling at the configured interval and
  applying the reflex;
- `bare`: a plain pymodbus loop at the same interval: read the same block,
  write the output when the input changed, sleep.
Each sample first waits a random part of a poll period, so the edge falls at
a random phase of the poll. The input's debounce is set to 0 for the
measurement (it is a configured delay, added in service; `debounce_ms` in
the output says how much).

Without `--simulate` there is nothing that could toggle a PLC input from
here: the command says so and exits 2. Exit 0 after a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hal.config import ModbusPlcConfig, Reflex
from station.commands.sim import load_device

if TYPE_CHECKING:
    from pymodbus.client import AsyncModbusTcpClient

    from hal.modbus.client import ReadBlock
    from simulators.plc import SimPlc

BLOCK = 25
"""Samples per block; the two paths alternate block by block."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="STATION.yaml", help="station file")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="measure against a simulated PLC in this process (required)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--samples", type=int, default=200, metavar="N", help="samples per path (default 200)"
    )
    parser.add_argument("--device", metavar="NAME", help="the PLC, when the station has several")
    parser.add_argument(
        "--reflex",
        metavar="INPUT",
        help="input of the reflex to measure (default: the first reflex)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="longest wait for one output write before the run fails (2 s)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the random edge phases")


@dataclass(frozen=True)
class Figures:
    """Latency figures of one path, in milliseconds."""

    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Figures:
        ms = sorted(s * 1000 for s in seconds)
        p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
        return cls(round(statistics.median(ms), 2), round(p99, 2), round(ms[-1], 2))


def run(args: argparse.Namespace) -> int:
    found = load_device(args.config, "modbus_plc", args.device)
    if found is None:
        return 2
    name, device = found
    assert isinstance(device, ModbusPlcConfig)
    problem = _refusal(args, name, device)
    if problem:
        print(f"{args.config}: {problem}", file=sys.stderr)
        return 2
    reflex = next(r for r in device.reflexes if args.reflex in (None, r.input))
    import structlog

    from station.logs import current_stderr

    rng = random.Random(args.seed)
    logging = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=current_stderr()))
    try:  # stdout carries the figures: logs go to stderr while measuring
        report = asyncio.run(measure(device, reflex, args.samples, args.timeout, rng))
    finally:
        structlog.configure(**logging)
    report["device"] = name
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0


def _refusal(args: argparse.Namespace, name: str, device: ModbusPlcConfig) -> str | None:
    if not args.simulate:
        return (
            "diag latency toggles a PLC input, which only a simulated PLC allows: "
            "run it with --simulate"
        )
    if args.samples < 1:
        return f"--samples must be >= 1 (got {args.samples})"
    if not any(args.reflex in (None, r.input) for r in device.reflexes):
        have = ", ".join(f"{r.input} -> {r.output}" for r in device.reflexes) or "none"
        wanted = f"from input {args.reflex!r}" if args.reflex else "at all"
        return f"device {name} has no reflex {wanted} (reflexes: {have})"
    return None


def _print_table(report: dict[str, Any]) -> None:
    print(
        f"{report['input']} -> {report['output']} on {report['device']}: poll "
        f"{report['poll_ms']} ms, {report['samples']} samples per path "
        f"(debounce {report['debounce_ms']} ms not included)"
    )
    print(f"{'':9}{'p50':>10}{'p99':>10}{'max':>10}")
    for path in ("station", "bare"):
        row = report[path]
        print(f"{path:9}{row['p50_ms']:>7.2f} ms{row['p99_ms']:>7.2f} ms{row['max_ms']:>7.2f} ms")
    print(f"ratio of p99 (station / bare): {report['ratio_p99']}")


async def measure(
    config: ModbusPlcConfig, reflex: Reflex, samples: int, timeout: float, rng: random.Random
) -> dict[str, Any]:
    """Run both paths against one simulated PLC; the report in docs/cli.md's JSON shape."""
    from hal.modbus.plc import reflex_value
    from simulators.plc import SimPlc

    source = config.inputs[reflex.input]
    output = config.outputs[reflex.output]
    unbounced = {**config.inputs, reflex.input: source.model_copy(update={"debounce_ms": 0})}
    sim = SimPlc(config)
    await sim.start()
    try:
        measured = config.model_copy(update={**sim.endpoint_update(), "inputs": unbounced})
        probe = _Probe(sim, reflex, lambda v: reflex_value(reflex, output, v), timeout, rng)
        station: list[float] = []
        bare: list[float] = []
        while len(bare) < samples:
            count = min(BLOCK, samples - len(station))
            station += await _station_block(measured, probe, count)
            bare += await _bare_block(measured, probe, count)
    finally:
        await sim.stop()
    figures = {"station": Figures.of(station), "bare": Figures.of(bare)}
    return {
        "poll_ms": config.poll_interval_ms,
        "samples": samples,
        **{path: vars(f) for path, f in figures.items()},
        "ratio_p99": round(figures["station"].p99_ms / figures["bare"].p99_ms, 2),
        "input": reflex.input,
        "output": reflex.output,
        "debounce_ms": source.debounce_ms,
    }


@dataclass
class _Probe:
    """Toggles the reflex input on the simulator and times the output write."""

    sim: SimPlc
    reflex: Reflex
    wanted: Any
    timeout: float
    rng: random.Random

    async def settled(self) -> None:
        """Wait until the output agrees with the input (a path has taken over)."""
        value = self.wanted(self.sim.input(self.reflex.input))
        await self.sim.wait_output(self.reflex.output, value, self.timeout)

    async def samples(self, count: int, poll_s: float) -> list[float]:
        taken = []
        for _ in range(count):
            await asyncio.sleep(self.rng.uniform(0, poll_s))
            value = 1 - self.sim.input(self.reflex.input)
            start = time.monotonic()
            self.sim.set_input(self.reflex.input, value)
            write = await self.sim.wait_output(self.reflex.output, self.wanted(value), self.timeout)
            assert write is not None and write.at >= start
            taken.append(write.at - start)
        return taken


async def _station_block(config: ModbusPlcConfig, probe: _Probe, count: int) -> list[float]:
    from hal.modbus.plc import ModbusPlc

    plc = ModbusPlc("plc", config)
    await plc.start()
    try:
        await plc.link.wait_up(probe.timeout)
        await probe.settled()
        return await probe.samples(count, config.poll_interval_ms / 1000)
    finally:
        await plc.stop()


async def _bare_block(config: ModbusPlcConfig, probe: _Probe, count: int) -> list[float]:
    from pymodbus.client import AsyncModbusTcpClient

    from hal.modbus.client import plan_reads

    points = {n: (p.table, p.address) for n, p in config.inputs.items()}
    block = next(b for b in plan_reads(points) if probe.reflex.input in dict(b.points))
    client = AsyncModbusTcpClient(
        config.host,
        port=config.port,
        timeout=config.link.request_timeout_s,
        retries=0,
        reconnect_delay=0,
    )
    if not await client.connect():
        raise ConnectionError(f"bare client: cannot connect to {config.host}:{config.port}")
    stop = asyncio.Event()
    loop = asyncio.create_task(_bare_loop(client, config, block, probe, stop), name="bare-loop")
    try:
        await probe.settled()
        return await probe.samples(count, config.poll_interval_ms / 1000)
    finally:
        # A flag, not cancel(): Python 3.11's wait_for inside pymodbus can drop a cancel.
        stop.set()
        await asyncio.wait_for(loop, probe.timeout)
        client.close()


async def _bare_loop(
    client: AsyncModbusTcpClient,
    config: ModbusPlcConfig,
    block: ReadBlock,
    probe: _Probe,
    stop: asyncio.Event,
) -> None:
    """What one would write without our driver: read, compare, write, sleep."""
    index = dict(block.points)[probe.reflex.input]
    output = config.outputs[probe.reflex.output]
    unit, poll_s = config.device_id, config.poll_interval_ms / 1000
    read = {
        "coil": client.read_coils,
        "discrete_input": client.read_discrete_inputs,
        "holding_register": client.read_holding_registers,
        "input_register": client.read_input_registers,
    }[block.table]
    last = None
    while not stop.is_set():
        reply = await read(block.address, count=block.count, device_id=unit)
        values = reply.bits if block.table in ("coil", "discrete_input") else reply.registers
        wanted = probe.wanted(int(values[index]))
        if wanted != last:
            if output.table == "coil":
                await client.write_coil(output.address, bool(wanted), device_id=unit)
            else:
                await client.write_register(output.address, wanted, device_id=unit)
            last = wanted
        await asyncio.sleep(poll_s)
