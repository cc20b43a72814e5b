"""`station line --config LINE.yaml [--config LINE.yaml ...] --simulate [--scenario S.yaml |
--vehicles N] [--seed N] [--fast] [--json] [--state-dir DIR] [--plant [--broker URL]
[--db URL] [--http HOST:PORT]]`: every station of a line on simulated hardware, and
vehicles moved through it (`station.simulation.line`).

Several `--config`: the plant on one machine. Each line runs with its own stations
(no station in two lines, no line twice) in a `station line` process of its own, as
each line's stations have IPCs of their own in the plant: one event loop serving four
lines' photo studios is late on their 0.1 s Modbus timeouts, and several processes use
every core. Each line gets `--vehicles N` of its own (the i-th line file seed `--seed`
+ i), its folder `RUN/<line>/`; `--scenario` and `--plant` take one line file. The
lines' output is relayed, each line prefixed by its line; the JSON document is
`{"lines": [each line's document], ...}` with totals beside (`released`, `held`,
`unexpected`, `conservation` with each problem prefixed by its line, `wall_s`, and
`cpu_s` the lines' processes added up). Exit: the worst of the lines'.

With `--plant` the plant runs beside the line: a broker
(`--broker`, else Debian's mosquitto started on a free loopback port; refused in one
line when it is not installed), the collector storing into `--db` (default
`plant.sqlite3` in the run's folder; a database holding no station yet), an uplink on
every station, and the conservation check extended to the replica. With `--http` the
plant's web view (andon board, passports, figures) serves the run: its URL is printed on
stderr as soon as it serves (`station line: web view at URL`), and once the run is over
the view stays until SIGINT or SIGTERM (Ctrl-C), then the command ends as without it.

Output: on a terminal, a live summary (a bar of the vehicles out of the line,
a row per station) redrawn in place; elsewhere one plain line per vehicle as
its journey ends. It goes to stderr with `--json`, which puts docs/cli.md's JSON
document on stdout; without `--json` a summary follows on stdout.

Exit: 0 when every vehicle ended released or held as the scenario expects and
the conservation check passed; 1 otherwise (each difference on stderr); 2 for
bad input (options, the line or its station files, the scenario, a state
folder already used), each error naming where and what.

The journals and the tags of the run go to `--state-dir` (a new or empty
folder, kept) or to a temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from station.scenario import Scenario
    from station.simulation.line import Journey, LineLayout, LineResult, LineRun

FAST = 0.02
"""Time scale of --fast: simulated physical times x0.02 (as `station run --fast`)."""
REFRESH_S = 0.25
"""Redraw period of the live summary on a terminal."""
BAR = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        type=Path,
        action="append",
        metavar="LINE.yaml",
        help="line file (repeatable: the lines side by side, each with its own stations)",
    )
    parser.add_argument(
        "--simulate", action="store_true", help="simulate every device in process (required)"
    )
    parser.add_argument("--scenario", type=Path, metavar="S.yaml", help="scenario file")
    parser.add_argument(
        "--vehicles", type=int, metavar="N", help="generate N vehicles (instead of --scenario)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of --vehicles (default 1)")
    parser.add_argument(
        "--fast", action="store_true", help=f"shrink simulated physical times (x{FAST})"
    )
    parser.add_argument("--json", action="store_true", help="print docs/cli.md's JSON document")
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="keep the run's journals and tags in DIR (new or empty; default: a temporary folder)",
    )
    parser.add_argument(
        "--log-level", default="error", help="stations' logs on stderr: debug ... error (error)"
    )
    parser.add_argument(
        "--plant",
        action="store_true",
        help="run the plant beside the line: broker, collector, an uplink on every station",
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="with --plant: the broker, mqtt://HOST:PORT (default: mosquitto started here)",
    )
    parser.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="with --plant: serve the web view (andon board, passports, figures) here "
        "(HOST defaults to 127.0.0.1, port 0 a free one); it stays after the run until Ctrl-C",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="with --plant: the plant database, a SQLite path or postgresql://... "
        "(default: plant.sqlite3 in the run's folder)",
    )


def run(args: argparse.Namespace) -> int:
    from station import logs
    from station.config.loader import ConfigError
    from station.journal import printable
    from station.simulation.line import LineInputError, PlantInputError

    logs.configure(args.log_level)
    try:
        lines = _inputs(args)
    except ConfigError as exc:
        return exc.report()
    except LineInputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    if len(lines) > 1:
        return _run_lines(args, [layout for layout, _ in lines])
    ((layout, scenario),) = lines
    stream = sys.stderr if args.json else sys.stdout
    plant = Plant(args.plant, args.broker, args.db, args.http)
    try:
        if args.state_dir is not None:
            result = asyncio.run(_run(layout, scenario, args.state_dir, args.fast, stream, plant))
            document = result.to_json()
        else:
            with tempfile.TemporaryDirectory(prefix="station-line-") as folder:
                run_dir = Path(folder)
                result = asyncio.run(_run(layout, scenario, run_dir, args.fast, stream, plant))
            document = result.to_json() | {"run_dir": None}
    except PlantInputError as exc:
        print(printable(f"station line: {exc}"), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(document))
    else:
        _print_summary(document)
    for record in result.unexpected:
        print(
            f"{record.vin}: ended {record.final}, the scenario expects {record.expected}"
            + (f" ({record.note})" if record.note else ""),
            file=sys.stderr,
        )
    for problem in result.problems:
        print(f"conservation: {problem}", file=sys.stderr)
    return result.exit_code


def _inputs(args: argparse.Namespace) -> list[tuple[LineLayout, Scenario]]:
    """Each line with its scenario, checked together; LineInputError or ConfigError."""
    from station.scenario import load_scenario
    from station.simulation.line import LineInputError, LineLayout, check_scenario

    problems = []
    if not args.simulate:
        problems.append("station line: runs simulated hardware only: add --simulate")
    if (args.scenario is None) == (args.vehicles is None):
        problems.append("station line: give one of --scenario S.yaml or --vehicles N")
    if not args.plant and (args.broker is not None or args.db is not None):
        problems.append("station line: --broker and --db go with --plant")
    if not args.plant and args.http is not None:
        problems.append("station line: --http goes with --plant (the view reads the plant)")
    if args.broker is not None:
        from station.uplink.config import parse_broker_url

        try:
            parse_broker_url(args.broker)
        except ValueError as exc:
            problems.append(f"station line: --broker: {exc}")
    if args.vehicles is not None and args.vehicles < 1:
        problems.append(f"station line: --vehicles must be >= 1 (got {args.vehicles})")
    state_dir: Path | None = args.state_dir
    if state_dir is not None and state_dir.exists():
        if not state_dir.is_dir():
            problems.append(f"--state-dir {state_dir}: not a directory")
        elif any(state_dir.iterdir()):
            problems.append(f"--state-dir {state_dir}: not empty (a line run needs a new folder)")
    if len(args.config) > 1 and args.scenario is not None:
        problems.append("station line: --scenario goes with one --config (several: --vehicles N)")
    if len(args.config) > 1 and args.plant:
        problems.append("station line: --plant goes with one --config")
    if problems:
        raise LineInputError(problems)
    layouts = [LineLayout.load(path) for path in args.config]
    problems = _overlaps(args.config, layouts)
    lines = []
    for index, layout in enumerate(layouts):
        source: Path | str
        if args.scenario is not None:
            scenario, source = load_scenario(args.scenario), args.scenario
        else:
            scenario = layout.generated(args.vehicles, args.seed + index)
            source = f"--vehicles {args.vehicles} --seed {args.seed + index}"
        problems += check_scenario(layout, scenario, source)
        lines.append((layout, scenario))
    if problems:
        raise LineInputError(problems)
    return lines


def _overlaps(paths: list[Path], layouts: list[LineLayout]) -> list[str]:
    """A line given twice, or a station on two of the lines: each runs once."""
    problems = []
    lines: dict[str, Path] = {}
    stations: dict[str, Path] = {}
    for path, layout in zip(paths, layouts, strict=True):
        if layout.name in lines:
            problems.append(f"{path}: line {layout.name} is also {lines[layout.name]}")
        lines.setdefault(layout.name, path)
        for name in layout.stations:
            if name in stations:
                problems.append(f"{path}: station {name!r} is also on {stations[name]}")
            stations.setdefault(name, path)
    return problems


def _run_lines(args: argparse.Namespace, layouts: list[LineLayout]) -> int:
    """Several lines, each a `station line` process of its own (module docstring)."""
    if args.state_dir is not None:
        return asyncio.run(_lines(args, layouts, args.state_dir))
    with tempfile.TemporaryDirectory(prefix="station-line-") as folder:
        return asyncio.run(_lines(args, layouts, Path(folder)))


async def _lines(args: argparse.Namespace, layouts: list[LineLayout], run_dir: Path) -> int:
    started = time.monotonic()
    options = ["--simulate", "--json", "--log-level", args.log_level]
    options += ["--vehicles", str(args.vehicles)] + (["--fast"] if args.fast else [])
    stream = sys.stderr if args.json else sys.stdout
    results = await asyncio.gather(
        *(
            _line_process(
                [
                    *("--config", str(path), *options),
                    *("--seed", str(args.seed + index)),
                    *("--state-dir", str(run_dir / layout.name)),
                ],
                layout.name,
                stream,
            )
            for index, (path, layout) in enumerate(zip(args.config, layouts, strict=True))
        )
    )
    documents = [document for _, document in results]
    problems = [f"{d['line']}: {p}" for d in documents for p in d["conservation"]["problems"]]
    plant = {
        "lines": documents,
        "released": sum(d["released"] for d in documents),
        "held": sum(d["held"] for d in documents),
        "unexpected": [vin for d in documents for vin in d["unexpected"]],
        "conservation": {"ok": not problems, "problems": problems},
        "wall_s": round(time.monotonic() - started, 3),
        "cpu_s": round(sum(d["cpu_s"] for d in documents), 3),
        "run_dir": None if args.state_dir is None else str(run_dir),
    }
    if args.json:
        print(json.dumps(plant))
    else:
        for document in documents:
            _print_summary(document)
    return max(code for code, _ in results)


async def _line_process(argv: list[str], name: str, stream: TextIO) -> tuple[int, dict[str, Any]]:
    """One line's `station line` process: its lines relayed prefixed by the line's name,
    its exit code and JSON document (a document of its error when it has none)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "station.cli",
        "line",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    output = asyncio.create_task(child.stdout.read(), name=f"line-output:{name}")
    async for raw in child.stderr:
        stream.write(f"{name}: {raw.decode(errors='replace')}")
        stream.flush()
    code = await child.wait()
    try:
        document: dict[str, Any] = json.loads(await output)
    except ValueError:
        problem = f"its process ended {code} without a document"
        document = {"line": name, "released": 0, "held": 0, "unexpected": [], "cpu_s": 0.0}
        document["conservation"] = {"ok": False, "problems": [problem]}
    return code, document


@dataclasses.dataclass(frozen=True)
class Plant:
    """`--plant`, `--broker`, `--db`, `--http`."""

    wanted: bool
    broker: str | None
    db: str | None
    http: str | None = None


async def _run(
    layout: LineLayout, scenario: Scenario, run_dir: Path, fast: bool, stream: TextIO, plant: Plant
) -> LineResult:
    from station.simulation.line import LineRun, plant_side

    scale = FAST if fast else 1.0
    if not plant.wanted:
        line = LineRun(layout, scenario, run_dir, time_scale=scale)
        async with live_summary(line, stream):
            return await line.run()
    async with plant_side(
        plant.broker, plant.db, run_dir, http=plant.http, line=layout.line.model
    ) as side:
        if side.web is not None:
            _say(f"web view at {side.web.url}/lines/{quote(layout.name, safe='')}")
        line = LineRun(layout, scenario, run_dir, time_scale=scale, plant=side)
        async with live_summary(line, stream):
            result = await line.run()
        if side.web is not None:
            _say(f"the run is over (exit {result.exit_code}); the web view stays: Ctrl-C ends it")
            await _signalled()
        return result


def _say(text: str) -> None:
    print(f"station line: {text}", file=sys.stderr, flush=True)


async def _signalled() -> None:
    """Until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def live_summary(line: LineRun, stream: TextIO) -> AsyncIterator[None]:
    """The run as it goes: redrawn in place on a terminal, plain lines elsewhere."""
    if not stream.isatty():
        line.on_vehicle_end(functools.partial(_plain_line, line, stream))
        yield
        return
    screen = _Screen(line, stream)
    task = asyncio.create_task(screen.redraw(), name="line-summary")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        screen.draw()


class _Screen:
    """The summary's lines, drawn over the previous drawing."""

    def __init__(self, line: LineRun, stream: TextIO) -> None:
        self.line = line
        self.stream = stream
        self._drawn = 0

    async def redraw(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(REFRESH_S)

    def draw(self) -> None:
        lines = render(self.line.snapshot())
        up = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
        self.stream.write(up + "\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)


def _plain_line(line: LineRun, stream: TextIO, record: Journey) -> None:
    """One line for a vehicle whose journey has ended."""
    ended = sum(r.final is not None for r in line.records.values())
    stops = " > ".join(f"{s.station}:{s.result}" for s in record.stops)
    stream.write(
        f"{line.now():9.1f} s {ended:>5}/{len(line.records)} {record.vin} {record.final}: {stops}\n"
    )
    stream.flush()


def render(snapshot: dict[str, Any]) -> list[str]:
    """The live summary's lines: the progress bar, then a row per station."""
    total = snapshot["vehicles"]
    out = snapshot["released"] + snapshot["held"] + snapshot["stranded"]
    filled = BAR * out // total if total else BAR
    lines = [
        f"[{'#' * filled}{'.' * (BAR - filled)}] {out}/{total} out: "
        f"{snapshot['released']} released, {snapshot['held']} held"
        + (f", {snapshot['stranded']} stranded" if snapshot["stranded"] else "")
        + f"; {snapshot['travelling']} travelling; {snapshot['t']:.1f} s"
    ]
    for row in snapshot["stations"]:
        lines.append(
            f"  {row['station']:<18} {row['state']:<10} {row['vin'] or '-':<17} "
            f"queue {row['queue']:>3}  cycles {row['cycles']:>4}"
        )
    return lines


def _print_summary(document: dict[str, Any]) -> None:
    vehicles = document["vehicles"]
    print(
        f"line {document['line']}: {len(vehicles)} vehicles, {document['released']} released, "
        f"{document['held']} held; wall {document['wall_s']:.1f} s, cpu {document['cpu_s']:.1f} s"
    )
    for violation in document["violations"]:
        print(
            f"  violation {violation['kind']} at {violation['station']}: {violation['vin']} "
            f"expected {violation['expected']}, found {violation['found']} -> {violation['action']}"
        )
    for station in document["stations"]:
        print(f"  {station['station']:<18} {station['state']:<10} cycles {station['cycles']:>4}")
    conservation = document["conservation"]
    print(f"conservation check: {'ok' if conservation['ok'] else 'FAILED'}")
