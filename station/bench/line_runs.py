"""The plant-day runs of `python -m station.bench.line plant` (its docstring lists the
figures): each run is the product's command, `station line ... --simulate --fast
--json`, in a process of its own, measured from outside."""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from station.commands.line import FAST

LINES = Path(__file__).resolve().parent.parent.parent / "configs" / "lines"
PROBLEMS_SHOWN = 5
"""Conservation problems a row shows (the first ones)."""


@dataclasses.dataclass(frozen=True)
class PlantRun:
    """One run: its line files, and the vehicles of a plant day as a multiple of line 1's."""

    name: str
    configs: tuple[str, ...]
    share: float
    """Vehicles in all, as a share of `--vehicles` (split evenly over the line files)."""
    target_s: float
    """Wall-time target of the run (issue 18)."""

    def per_line(self, vehicles: int) -> int:
        """`--vehicles` of `station line`: each line file gets as many (docs/cli.md)."""
        return max(1, round(vehicles * self.share / len(self.configs)))

    def command(self, vehicles: int, seed: int) -> list[str]:
        configs = [part for path in self.configs for part in ("--config", path)]
        options = ["--vehicles", str(self.per_line(vehicles)), "--seed", str(seed)]
        return ["station", "line", *configs, "--simulate", *options, "--fast", "--json"]


RUNS = {
    run.name: run
    for run in (
        PlantRun("line1", ("configs/lines/line1.yaml",), 1.0, 120.0),
        PlantRun("line1-doubled", ("configs/lines/line1-doubled.yaml",), 2.0, 180.0),
        PlantRun(
            "four-lines",
            tuple(
                f"configs/lines/{name}.yaml"
                for name in ("line1", "line2-express", "line3-ev", "line4-bodywork")
            ),
            1.0,
            300.0,
        ),
    )
}


def measure(run: PlantRun, vehicles: int, seed: int) -> dict[str, Any]:
    """Run `station line` as `run` says and measure it: wall time, CPU and peak RSS of its
    process and of every process it waited for (os.wait4: RUSAGE_BOTH of the child)."""
    argv = run.command(vehicles, seed)
    root = LINES.parent.parent
    with tempfile.TemporaryDirectory(prefix="bench-plant-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            started = time.monotonic()
            child = subprocess.Popen(
                [sys.executable, "-m", "station.cli", *argv[1:]],
                cwd=root,
                stdout=stdout,
                stderr=stderr,
            )
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
            child.returncode = os.waitstatus_to_exitcode(status)
        text = out.read_text(errors="replace")
        last = err.read_text(errors="replace").strip().splitlines()[-3:]
    row: dict[str, Any] = {
        "run": run.name,
        "command": " ".join(argv),
        "vehicles": run.per_line(vehicles) * len(run.configs),
        "vehicles_per_line": run.per_line(vehicles),
        "exit": child.returncode,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "cpu_cores": round((usage.ru_utime + usage.ru_stime) / wall, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "target_wall_s": run.target_s,
    }
    try:
        document = json.loads(text)
    except ValueError:
        return row | {"error": last or ["no output"], "within_target": False}
    row |= figures(document)
    row["within_target"] = (
        row["exit"] == 0 and row["conservation_ok"] and row["wall_s"] <= run.target_s
    )
    return row


def figures(document: dict[str, Any]) -> dict[str, Any]:
    """A `station line --json` document's counts, and per line its wall time, its start
    (its stations and simulators up) and its busiest station."""
    lines = document.get("lines", [document])
    return {
        "released": document["released"],
        "held": document["held"],
        "unexpected": len(document["unexpected"]),
        "conservation_ok": document["conservation"]["ok"],
        "problems": document["conservation"]["problems"][:PROBLEMS_SHOWN],
        "lines": [
            {
                "line": line["line"],
                "wall_s": line["wall_s"],
                "startup_s": line["startup_s"],
                "busiest": busiest(line),
            }
            for line in lines
        ],
    }


def busiest(line: dict[str, Any]) -> dict[str, Any] | None:
    """The station of a line that had vehicles in it longest: its share of the line's
    moving time and its median time a vehicle (the line's bottleneck)."""
    visits: dict[str, list[float]] = defaultdict(list)
    for vehicle in line["vehicles"]:
        for stop in vehicle["journey"]:
            visits[stop["station"]].append(stop["t_out"] - stop["t_in"])
    if not visits:
        return None
    name, times = max(visits.items(), key=lambda item: sum(item[1]))
    moving = max(stop["t_out"] for v in line["vehicles"] for stop in v["journey"])
    return {
        "station": name,
        "busy_share": round(sum(times) / moving, 2) if moving else None,
        "median_s": round(statistics.median(times), 3),
    }


def plant(runs: Sequence[str], vehicles: int, seed: int) -> dict[str, Any]:
    """The `runs` one after the other (each row also on stderr as it is done)."""
    rows = []
    for name in runs:
        rows.append(measure(RUNS[name], vehicles, seed))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {
        "bench": "plant",
        "vehicles": vehicles,
        "seed": seed,
        "time_scale": FAST,
        "cpus": os.cpu_count(),
        "runs": rows,
    }
