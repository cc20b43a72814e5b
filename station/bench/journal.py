"""Journal benchmark: `python -m station.bench.journal [--events N] [--json] [--dir DIR]`,
or `... --open-events N [--json] [--dir DIR]` for the start-up check alone.

Measures `station.journal.Journal` with synchronous=FULL in a fresh file in a temporary
directory under DIR (default: the system's temporary directory). fsync is the cost, so
the figures mean something only on the filesystem the station will use: the filesystem
type is reported (tmpfs makes fsync free).

- `sequential`: N appends, each awaited before the next, as the runtime does (journal
  first): events per second and the latency of one append (call to commit): p50, p99,
  max in milliseconds.
- `reference`: the disk's pace, plain SQLite on the same filesystem (WAL, synchronous=FULL,
  one row of the journal's size per transaction, no index, no chain, no checks), its
  commits taken in turns with the sequential appends (`ROUNDS`) so that both see the same
  load; `share_of_reference` is the sequential rate over it.
- `handed_off`: the same plain commits, each handed to a writer thread of their own and
  awaited on the loop (a queue, `call_soon_threadsafe`: the least a journal pays that
  keeps the fsync off the control loop), taken in the same turns;
  `share_of_handed_off` is the sequential rate over it.
- `concurrent`: N more appends from `tasks` tasks at once, committed in groups (one
  fsync per group): events per second.
- `bytes_per_event`: size of the file after close (WAL checkpointed) over the 2N events.
- `verify_events_per_s`: `Journal.verify()` (integrity check and hash chain) over them.

JSON shape (`--json`):

    {"events": N, "synchronous": "FULL", "dir": "...", "fs": "ext4",
     "sequential": {"events_per_s": ..., "p50_ms": ..., "p99_ms": ..., "max_ms": ...},
     "concurrent": {"tasks": 8, "events_per_s": ...},
     "bytes_per_event": ..., "verify_events_per_s": ...,
     "reference": {"events_per_s": ..., "p50_ms": ..., "p99_ms": ..., "max_ms": ...,
                   "row_bytes": ...},
     "handed_off": {"events_per_s": ..., "p50_ms": ..., "p99_ms": ..., "max_ms": ...},
     "share_of_reference": ..., "share_of_handed_off": ...}

`--open-events N` writes a journal of N events straight into the file (one transaction,
the chain computed as the writer does), then times `Journal.open`, which checks the
chain from its checkpoint: `first_open_s` with no checkpoint yet (the whole chain: a
journal written before checkpoints existed), `open_s` the next start (from the
checkpoint the first one left):

    {"open_events": N, "dir": "...", "fs": "ext4", "build_s": ..., "first_open_s": ...,
     "open_s": ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from station.journal import GENESIS_HASH, Event, Journal, canonical_json, chain_hash
from station.journal.event import INSERT_EVENT
from station.state_dir import journal_path

CONCURRENT_TASKS = 8
ROUNDS = 10
"""The sequential appends and the reference's commits alternate in this many turns."""
STATION = "bench-station"


def _event_fields(index: int) -> dict[str, Any]:
    """A typical cycle event: a step of one vehicle with a small payload."""
    return {
        "vin": f"VF1RFB00X66{index % 1_000_000:06d}",
        "step": "inspect",
        "result": "passed",
        "operator": "op-17",
        "data": {"verdict": "pass", "duration_s": 41.7, "checks": ["brakes", "lights"]},
    }


def filesystem_type(path: Path) -> str:
    """Type of the filesystem holding `path`, from /proc/mounts ("unknown" elsewhere)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except FileNotFoundError:
        return "unknown"
    resolved = path.resolve()
    best, kind = Path("/"), "unknown"
    for line in mounts:
        _, mount_point, fs_type, *_ = line.split()
        candidate = Path(mount_point)
        if resolved.is_relative_to(candidate) and len(candidate.parts) >= len(best.parts):
            best, kind = candidate, fs_type
    return kind


async def _measure(directory: Path, events: int) -> dict[str, Any]:
    path = journal_path(directory)
    journal = Journal.open(path, STATION)
    reference = await asyncio.to_thread(_Reference, directory)
    handed_off = _HandedOff(await asyncio.to_thread(_Reference, directory, "handed-off"))
    try:
        latencies_ns: list[int] = []
        sequential_s = 0.0
        turn = -(-events // ROUNDS)
        for first in range(0, events, turn):
            chunk = range(first, min(events, first + turn))
            start = time.perf_counter()
            for index in chunk:
                called = time.perf_counter_ns()
                event = await journal.append("step_done", **_event_fields(index))
                latencies_ns.append(time.perf_counter_ns() - called)
            sequential_s += time.perf_counter() - start
            await asyncio.to_thread(reference.commit, event, len(chunk))
            await handed_off.commit(event, len(chunk))

        async def appender(task: int) -> None:
            for index in range(task, events, CONCURRENT_TASKS):
                await journal.append("step_done", **_event_fields(index))

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for task in range(CONCURRENT_TASKS):
                group.create_task(appender(task), name=f"bench-appender-{task}")
        concurrent_s = time.perf_counter() - start

        start = time.perf_counter()
        report = journal.verify()
        verify_s = time.perf_counter() - start
    finally:
        await journal.close()
        await asyncio.to_thread(reference.close)
        await handed_off.close()
    if not report.ok:
        raise RuntimeError(f"benchmark journal failed verification: {report.problems}")
    return {
        "sequential": {"events_per_s": round(events / sequential_s, 1), **_latencies(latencies_ns)},
        "concurrent": {
            "tasks": CONCURRENT_TASKS,
            "events_per_s": round(events / concurrent_s, 1),
        },
        "bytes_per_event": round(path.stat().st_size / report.count, 1),
        "verify_events_per_s": round(report.count / verify_s, 1),
        "reference": reference.figures(),
        "handed_off": handed_off.figures(),
    }


def _latencies(latencies_ns: list[int]) -> dict[str, float]:
    """p50, p99 and max of `latencies_ns`, in milliseconds."""
    latencies_ms = [ns / 1e6 for ns in latencies_ns]
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {
        "p50_ms": round(statistics.median(latencies_ms), 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(max(latencies_ms), 3),
    }


class _Reference:
    """The disk's pace: plain SQLite in a file beside the journal (same filesystem; page
    size and WAL auto-checkpoint SQLite's defaults, as the journal's), WAL and
    synchronous=FULL like the journal, one row per transaction: the row the journal just
    committed, as one text; no index, no chain, no checks. Its commits run in turns with
    the journal's (`ROUNDS`), so both see the same load."""

    def __init__(self, directory: Path, name: str = "reference") -> None:
        self._conn = sqlite3.connect(
            directory / f"{name}.sqlite3", isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self._latencies_ns: list[int] = []
        self._elapsed_s = 0.0
        self._row_bytes = 0

    def commit(self, event: Event, count: int) -> None:
        """`count` transactions of one row each: `event`'s row."""
        body = self.body(event)
        start = time.perf_counter()
        for _ in range(count):
            called = time.perf_counter_ns()
            self.commit_one(body)
            self._latencies_ns.append(time.perf_counter_ns() - called)
        self._elapsed_s += time.perf_counter() - start

    def body(self, event: Event) -> str:
        """What a row holds: `event`'s row as one JSON text."""
        body = canonical_json(list(event.to_row()))
        self._row_bytes = len(body.encode())
        return body

    def commit_one(self, body: str) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute("INSERT INTO rows (body) VALUES (?)", (body,))
        self._conn.execute("COMMIT")

    def timed(self, latencies_ns: list[int], elapsed_s: float) -> None:
        """Commits timed by another (`_HandedOff`)."""
        self._latencies_ns += latencies_ns
        self._elapsed_s += elapsed_s

    def figures(self) -> dict[str, Any]:
        return {
            "events_per_s": round(len(self._latencies_ns) / self._elapsed_s, 1),
            **_latencies(self._latencies_ns),
            "row_bytes": self._row_bytes,
        }

    def close(self) -> None:
        self._conn.close()


class _HandedOff:
    """The reference's commits, each handed to a writer thread and awaited on the loop,
    as the journal hands its events (`station.journal.writer`) but with nothing else:
    a queue to the thread, the commit, `call_soon_threadsafe` back."""

    def __init__(self, reference: _Reference) -> None:
        self._reference = reference
        self._queue: queue.SimpleQueue[tuple[str, asyncio.Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="bench-handed-off")
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            body, future = item
            try:
                self._reference.commit_one(body)
            except sqlite3.Error as exc:  # the awaiting bench raises it, never waits on
                self._loop.call_soon_threadsafe(future.set_exception, exc)
            else:
                self._loop.call_soon_threadsafe(future.set_result, None)

    async def commit(self, event: Event, count: int) -> None:
        """`count` transactions of one row each, one awaited after the other."""
        body = self._reference.body(event)
        latencies_ns = []
        start = time.perf_counter()
        for _ in range(count):
            called = time.perf_counter_ns()
            future = self._loop.create_future()
            self._queue.put((body, future))
            await future
            latencies_ns.append(time.perf_counter_ns() - called)
        self._reference.timed(latencies_ns, time.perf_counter() - start)

    def figures(self) -> dict[str, Any]:
        figures = self._reference.figures()
        del figures["row_bytes"]
        return figures

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._reference.close()


def _build(path: Path, events: int) -> None:
    """A journal of `events` step events, written in one transaction."""
    prev_hash = GENESIS_HASH
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for seq in range(1, events + 1):
            fields = {
                "seq": seq,
                "station": STATION,
                "kind": "step_done",
                **_event_fields(seq),
                "config_hash": "bench",
                "mono_ns": seq,
                "boot_id": "bench",
                "wall": "2025-01-01T00:00:00.000000+00:00",
                "prev_hash": prev_hash,
            }
            event = Event(**fields, hash=chain_hash(fields))
            conn.execute(INSERT_EVENT, event.to_row())
            prev_hash = event.hash
        conn.execute("COMMIT")
    finally:
        conn.close()


async def _measure_open(directory: Path, events: int) -> dict[str, Any]:
    path = journal_path(directory)
    await Journal.open(path, STATION).close()
    start = time.perf_counter()
    _build(path, events)
    figures = {"build_s": round(time.perf_counter() - start, 3)}
    for name in ("first_open_s", "open_s"):
        start = time.perf_counter()
        journal = Journal.open(path, STATION)
        figures[name] = round(time.perf_counter() - start, 4)
        await journal.close()
    return figures


def _at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (got {value})")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station.bench.journal", description=__doc__)
    parser.add_argument("--events", type=_at_least_two, default=2000, metavar="N")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--dir", type=Path, help="measure on this directory's filesystem")
    parser.add_argument(
        "--open-events",
        type=_at_least_two,
        metavar="N",
        help="time only Journal.open on a journal of N events (see above)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="journal-bench-", dir=args.dir) as name:
        directory = Path(name).resolve()
        if args.open_events is not None:
            opened = {
                "open_events": args.open_events,
                "dir": str(directory),
                "fs": filesystem_type(directory),
                **asyncio.run(_measure_open(directory, args.open_events)),
            }
            print(json.dumps(opened) if args.json else opened)
            return 0
        figures = {
            "events": args.events,
            "synchronous": "FULL",
            "dir": str(directory),
            "fs": filesystem_type(directory),
            **asyncio.run(_measure(directory, args.events)),
        }
        for reference in ("reference", "handed_off"):
            figures[f"share_of_{reference}"] = round(
                figures["sequential"]["events_per_s"] / figures[reference]["events_per_s"], 2
            )
    if args.json:
        print(json.dumps(figures))
    else:
        seq, conc = figures["sequential"], figures["concurrent"]
        print(f"journal, synchronous=FULL, {figures['fs']} at {figures['dir']}")
        print(
            f"sequential: {seq['events_per_s']} events/s, append p50 {seq['p50_ms']} ms, "
            f"p99 {seq['p99_ms']} ms, max {seq['max_ms']} ms"
        )
        print(f"concurrent ({conc['tasks']} tasks): {conc['events_per_s']} events/s")
        verify = figures["verify_events_per_s"]
        print(f"{figures['bytes_per_event']} bytes/event; verify {verify} events/s")
        ref, share = figures["reference"], figures["share_of_reference"]
        print(
            f"plain SQLite, one row a commit: {ref['events_per_s']}/s, p50 {ref['p50_ms']} ms; "
            f"ours {share} of it"
        )
        handed, share = figures["handed_off"], figures["share_of_handed_off"]
        print(
            f"the same, each handed to a writer thread: {handed['events_per_s']}/s, "
            f"p50 {handed['p50_ms']} ms; ours {share} of it"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
