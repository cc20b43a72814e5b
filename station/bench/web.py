"""Web view benchmark: `python -m station.bench.web [--vehicles N] [--json]`.

How long from a station's change to its tile on the andon board, the whole way: the
station journals an event, its uplink publishes it, Mosquitto passes it on, the
collector stores it, the web view reads what is new and pushes the board over
server-sent events, and `board.js` swaps the tile in the browser. The target is 1 s.

It runs the acceptance command a newcomer would, `station line --config
configs/lines/line1.yaml --simulate --plant --fast --vehicles N --http 127.0.0.1:0`
(Debian's `mosquitto` started for the run, the collector and the web view in the
line's process), opens the board it prints in the system's Chromium (Playwright,
`/usr/bin/chromium`, headless) and records in the page, with the page's clock, each
tile's `data-seq` (the station's last journal sequence number the tile shows) the
moment it appears. After the run, each (station, seq) seen is looked up in that
station's journal: the latency is the time seen minus the event's `wall` time (both
this machine's clock; the browser's is read in milliseconds). Tiles already on the
page when it loaded are not counted. A station that journals several events within
one push shows only the last: the figure is for the events the board showed.

JSON shape (`--json`):

    {"vehicles": N, "tile_changes": ..., "latency_s": {"p50": ..., "p90": ...,
     "p99": ..., "max": ...}, "within_1_s": share, "run_s": ..., "exit": 0}

A benchmark measures and reports; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from station.journal import JournalReader
from station.plant.report_rows import seconds
from station.state_dir import journal_path

ROOT = Path(__file__).resolve().parent.parent.parent
LINE_FILE = ROOT / "configs" / "lines" / "line1.yaml"
CHROMIUM = Path("/usr/bin/chromium")
RUN_TIMEOUT_S = 900.0

WATCH = """() => {
  window.__seen = [];
  const known = new Set();
  const scan = (counted) => {
    for (const tile of document.querySelectorAll("li.tile[data-station]")) {
      const key = tile.dataset.station + "#" + tile.dataset.seq;
      if (!known.has(key)) {
        known.add(key);
        if (counted) window.__seen.push([Date.now(), tile.dataset.station, tile.dataset.seq]);
      }
    }
  };
  scan(false);
  new MutationObserver(() => scan(true)).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-seq"],
  });
}"""
"""Installed once the board has loaded: what is on it then is not a change."""


async def _said(stream: asyncio.StreamReader, text: str, lines: list[str]) -> str:
    """Read the line's stderr until a line containing `text` (kept in `lines`)."""
    while True:
        raw = await stream.readline()
        if not raw:
            raise RuntimeError(f"station line ended before saying {text!r}: {lines[-5:]}")
        line = raw.decode(errors="replace").rstrip()
        lines.append(line)
        if text in line:
            return line


async def measure(vehicles: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        run_dir = Path(tmp) / "run"
        command = [
            sys.executable,
            *("-m", "station.cli", "line", "--config", str(LINE_FILE), "--simulate"),
            *("--plant", "--fast", "--vehicles", str(vehicles), "--json"),
            *("--state-dir", str(run_dir), "--http", "127.0.0.1:0"),
        ]
        started = time.monotonic()
        line = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert line.stderr is not None and line.stdout is not None
        lines: list[str] = []
        try:
            async with asyncio.timeout(RUN_TIMEOUT_S), async_playwright() as playwright:
                said = await _said(line.stderr, "web view at ", lines)
                url = said.split(" web view at ")[1]
                browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
                try:
                    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                    await page.goto(url)
                    await page.wait_for_selector("li.tile[data-station]")
                    await page.evaluate(WATCH)
                    await _said(line.stderr, "the run is over", lines)
                    run_s = time.monotonic() - started
                    seen: list[list[Any]] = await page.evaluate("() => window.__seen")
                finally:
                    await browser.close()
            line.send_signal(signal.SIGINT)
            out, _ = await asyncio.wait_for(line.communicate(), timeout=60)
        finally:
            if line.returncode is None:
                line.kill()
                await line.wait()
        exit_code = line.returncode
        document = json.loads(out) if out.strip() else {}
        walls: dict[tuple[str, int], float] = {}
        for station in {name for _, name, _ in seen}:
            path = journal_path(run_dir / station)
            if path.exists():
                with JournalReader.open(path) as reader:
                    walls.update(
                        ((station, e.seq), seconds(e.wall)) for e in reader.events(after_seq=0)
                    )
        latencies: list[float] = sorted(
            float(at_ms) / 1000 - walls[(station, int(seq))]
            for at_ms, station, seq in seen
            if (station, int(seq)) in walls
        )

    def quantile(share: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(share * len(latencies)))], 3)

    return {
        "vehicles": vehicles,
        "tile_changes": len(latencies),
        "latency_s": {
            "p50": round(statistics.median(latencies), 3) if latencies else None,
            "p90": quantile(0.90),
            "p99": quantile(0.99),
            "max": round(latencies[-1], 3) if latencies else None,
        },
        "within_1_s": (
            round(sum(1 for x in latencies if x <= 1.0) / len(latencies), 3) if latencies else None
        ),
        "run_s": round(run_s, 1),
        "exit": exit_code,
        "conservation_ok": document.get("conservation", {}).get("ok"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station.bench.web", description=__doc__)
    parser.add_argument("--vehicles", type=int, default=10, help="vehicles of the run (10)")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON document")
    args = parser.parse_args(argv)
    if args.vehicles < 1:
        parser.error("--vehicles must be at least 1")
    if not CHROMIUM.exists():
        print("station.bench.web: no /usr/bin/chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        figures = asyncio.run(measure(args.vehicles))
    except ImportError:
        print("station.bench.web: playwright is not installed (pip install -e '.[test]')")
        return 2
    except RuntimeError as exc:
        print(f"station.bench.web: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
