"""Plant link benchmark: `python -m station.bench.uplink [--events N]`, prints JSON.

Writes a journal of N events (default 100,000) that the plant never acknowledged, starts
a Mosquitto of its own (`station.simulation.mosquitto`, as `station line --plant` does),
and lets `station.uplink.Uplink` replay the whole backlog to it. `mosquitto_sub -q 1
-C N` (a subscriber we did not write) counts the events arriving; the replay ends
when it has received all N.

    {"events": N, "events_per_s": ..., "replay_s": ...,
     "max_loop_stall_ms": ...,  # longest lateness of a 10 ms ticker on the event loop
     "rss_added_mib": ...}      # peak RSS during the replay minus RSS before start

Targets (issue 14): >= 5,000 events/s, <= 5 ms stall, <= 15 MiB added.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from station import logs
from station.journal import Journal
from station.simulation.mosquitto import local_broker, mosquitto
from station.uplink.config import Uplink as UplinkConfig
from station.uplink.link import Uplink
from station.uplink.sparkplug import metrics_of

STATION, LINE = "bench-station", "bench-line"
TICK_S = 0.010
APPEND_GROUP = 2000


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _write_journal(path: Path, events: int) -> None:
    async with Journal.open(path, STATION) as journal:
        journal.config_hash = "bench"
        for start in range(0, events, APPEND_GROUP):
            await asyncio.gather(
                *(
                    journal.append(
                        "step_done",
                        vin=f"VF1RFB00X66{index:06d}",
                        step="inspect",
                        result="passed",
                        operator="op-17",
                        data={"verdict": "pass", "duration_s": 41.7},
                    )
                    for index in range(start, min(events, start + APPEND_GROUP))
                )
            )


def _status() -> Any:
    """The uplink's status source: a fixed, idle station."""
    return {
        "station": STATION, "operation": "bench", "state": "Idle", "mode": "production",
        "vin": None, "model": "", "held": None, "route": [], "step_index": 0,
        "step_count": 1, "step": "", "step_progress": 0.0, "prompt": None, "alarms": [],
        "counts": {"cycles": 0, "passed": 0, "failed": 0, "rework": 0, "held": 0},
        "blocked": False, "starved": False, "inputs": {}, "outputs": {}, "links": {},
        "config_hash": "bench", "route_version": 1, "visit_measurements": [],
        "visit_findings": [], "last_measurements": {},
    }  # fmt: skip


async def _measure(directory: Path, events: int, inflight: int, sub: str) -> dict[str, Any]:
    await _write_journal(directory / "journal.sqlite3", events)
    metrics_of(_status(), 0)  # import-time and first-call costs out of the baseline
    # writing the journal here left a heap a station would not have: collected now, its
    # full collection (about 15 ms) would otherwise land in the replay's stall
    gc.collect()
    async with local_broker(directory / "broker") as url:
        topic = f"plant/{LINE}/{STATION}/journal"
        port = int(url.rsplit(":", 1)[1])
        counter, draining = await _subscriber(sub, port, topic, events)
        config = UplinkConfig(broker=url, backlog_alarm=10 * events, inflight=inflight)
        uplink = Uplink(
            config, directory / "journal.sqlite3", STATION, LINE, directory,
            _status, lambda key, text: None, lambda kind, data: None,
        )  # fmt: skip
        baseline = _rss_bytes()
        peak, stall = baseline, 0.0
        start = time.perf_counter()
        await uplink.start()
        waiting = asyncio.create_task(counter.wait())
        while not waiting.done():
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            stall = max(stall, time.perf_counter() - before - TICK_S)
            peak = max(peak, _rss_bytes())
        elapsed = time.perf_counter() - start
        await uplink.stop()
        await draining
    return {
        "events": events,
        "inflight": inflight,
        "events_per_s": round(events / elapsed),
        "replay_s": round(elapsed, 2),
        "max_loop_stall_ms": round(stall * 1000, 2),
        "rss_added_mib": round((peak - baseline) / 2**20, 1),
    }


async def _subscriber(
    sub: str, port: int, topic: str, events: int
) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
    """mosquitto_sub that exits after `events` messages, once it is subscribed, and the
    task reading its output to the end."""
    deadline = time.monotonic() + 10
    while True:  # the broker may still be starting
        process = await asyncio.create_subprocess_exec(
            *("stdbuf", "-oL", sub, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-d"),
            *("-t", topic, "-C", str(events), "-F", "%m"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert process.stdout is not None
        async for line in process.stdout:
            if b"received SUBACK" in line:
                return process, asyncio.create_task(_drain(process.stdout))
        await process.wait()
        if time.monotonic() > deadline:
            raise RuntimeError(f"mosquitto_sub could not subscribe on port {port}")
        await asyncio.sleep(0.05)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station.bench.uplink", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, metavar="N")
    parser.add_argument("--dir", type=Path, help="where the journal is written")
    parser.add_argument("--inflight", type=int, default=256, help="the uplink's window")
    args = parser.parse_args(argv)
    logs.configure("warning")  # stdout is the JSON's
    sub = shutil.which("mosquitto_sub")
    if mosquitto() is None or sub is None:
        print(
            "needs mosquitto and mosquitto_sub (Debian: mosquitto, mosquitto-clients)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="uplink-bench-") as directory:
        figures = asyncio.run(_measure(Path(directory), args.events, args.inflight, sub))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
