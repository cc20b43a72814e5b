"""`station line --simulate --plant`: the line with the plant beside it (a Mosquitto the
command starts, the collector, an uplink on every station), the conservation check
extended to the replica; then `station passport` of its vehicles from the plant database.
And its refusals: one line, exit 2."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
from mqtt_broker import Broker, requires_mosquitto
from playwright.async_api import Page, expect
from web_rig import CHROMIUM, chromium, new_page, screenshot

from station.config.loader import load_line
from station.simulation import mosquitto as broker
from station.simulation.line import PlantInputError, _plant

pytest_plugins = ["mqtt_fixtures"]

LINE = "configs/lines/line1.yaml"
WEB_SCENARIO = "configs/scenarios/line-web.yaml"
LINE_RUN = [sys.executable, "-m", "station.cli", "line", "--config", LINE, "--simulate", "--plant"]
LINE_RUN += ["--fast", "--json"]
ROUTE = load_line(LINE).model.route
STATIONS = [*dict.fromkeys([op.station for op in ROUTE.operations] + [ROUTE.rework.station])]
RELEASED_VIN = "VF1RFB00X66100007"
HELD_VIN = "TMBJG7NE9F0100006"
LABEL = "<script>window.pwned=1</script>"
RUN_MS = 240_000
STOP_S = 60


def station_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def line_run(*args: str) -> dict:  # type: ignore[type-arg]
    done = station_cli(
        "line", "--config", LINE, "--simulate", "--plant", "--fast", "--json", *args, timeout=420
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    assert document["conservation"] == {"ok": True, "problems": []}
    return document


def passport_stations(vin: str, db: str) -> list[tuple[str, str]]:
    done = station_cli("passport", vin, "--db", db, "--json")
    assert done.returncode == 0, done.stderr
    return [(v["station"], v["result"]) for v in json.loads(done.stdout)["visits"]]


@requires_mosquitto
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (.ci/run installs it)")
@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_line_run_with_the_plant_its_passports_and_its_web_view(tmp_path: Path) -> None:
    """The acceptance command with the 8 vehicles of configs/scenarios/line-web.yaml (the
    suite's 15 minutes; the README's run of 30 generated vehicles passes the same checks,
    run by hand), watched DURING the run in the system's Chromium on the web view it
    serves (`--http 127.0.0.1:0`: the URL it prints): every station of the line in route
    order, tiles changing state and VIN without a reload, the held vehicle in the held
    list, the label that reads `<script>` shown as text and never run; once the run is
    over (the view stays until SIGINT): the passport of a released VIN lists every
    station of its journey, the figures page draws the numbers `station plant report
    --json` gives. It writes the README's screenshots (1920x1080)."""
    state = tmp_path / "run"
    command = [*LINE_RUN, "--scenario", WEB_SCENARIO, "--state-dir", str(state)]
    line = await asyncio.create_subprocess_exec(
        *command, "--http", "127.0.0.1:0", stdout=PIPE, stderr=PIPE
    )
    said = Said(line)
    try:
        async with chromium() as browser:
            url = (await said.line_with("web view at ")).split(" web view at ")[1]
            base = url.split("/lines/")[0]
            board = await new_page(browser)
            await board.goto(url)
            await watch(board)
            await check_tiles(board)
            held = board.locator(f'#held-list tr[data-vin="{HELD_VIN}"]')
            await expect(held.locator(".reason")).to_contain_text("turning", timeout=RUN_MS)
            await screenshot(board, "board")
            await said.line_with("the run is over", timeout_s=RUN_MS / 1000)
            await check_seen(board)
            visits = await check_passport(board, base)
            await check_figures(board, base, str(state / "plant.sqlite3"))
        line.send_signal(signal.SIGINT)
        assert line.stdout is not None
        async with asyncio.timeout(STOP_S):
            out = await line.stdout.read()
            assert await line.wait() == 0, said.lines[-20:]
    finally:
        if line.returncode is None:
            line.kill()
            await line.wait()
        await said.close()
    document = json.loads(out)
    assert document["conservation"] == {"ok": True, "problems": []}
    assert (document["released"], document["held"]) == (7, 1)
    journeys = {v["vin"]: [stop["station"] for stop in v["journey"]] for v in document["vehicles"]}
    assert visits == journeys[RELEASED_VIN]
    db = str(state / "plant.sqlite3")
    for vehicle in (document["vehicles"][0], document["vehicles"][-1]):
        stops = [(stop["station"], stop["result"]) for stop in vehicle["journey"]]
        assert passport_stations(vehicle["vin"], db) == stops
    assert not running_from(state / "broker"), "the broker it started is stopped"


class Said:
    """The line's stderr, line by line, read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        self.stream = process.stderr
        self.lines: list[str] = []
        self.grew = asyncio.Condition()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.stream:
            async with self.grew:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self.grew.notify_all()

    async def line_with(self, text: str, timeout_s: float = 60) -> str:
        async with asyncio.timeout(timeout_s), self.grew:
            await self.grew.wait_for(
                lambda: any(text in line for line in self.lines) or self.task.done()
            )
        found = [line for line in self.lines if text in line]
        assert found, f"the line never said {text!r}: {self.lines[-10:]}"
        return found[0]

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


WATCH = """() => {
  window.sameDocument = true;
  window.seen = [];
  window.scripts = 0;
  const note = () => {
    for (const t of document.querySelectorAll("li.tile")) {
      const refused = t.querySelector(".refused code");
      window.seen.push([t.dataset.station, t.dataset.state,
        t.querySelector(".vin").textContent.trim(), refused ? refused.textContent : null]);
    }
    window.scripts += document.querySelectorAll("#board script").length;
  };
  new MutationObserver(note).observe(document.getElementById("board"),
    { childList: true, subtree: true });
  note();
}"""


async def watch(page: Page) -> None:
    """Note every tile as each update of the board shows it (`window.seen`)."""
    await expect(page.locator("#link")).to_have_text("live")
    await page.evaluate(WATCH)


async def check_tiles(page: Page) -> None:
    tiles = page.locator("li.tile")
    await expect(tiles).to_have_count(len(STATIONS))
    assert await tiles.evaluate_all("ts => ts.map(t => t.dataset.station)") == STATIONS


async def check_seen(page: Page) -> None:
    """What the board showed during the run, without a reload."""
    assert await page.evaluate("window.sameDocument") is True, "the page was reloaded"
    seen = await page.evaluate("window.seen")
    reception = [(state, vin) for station, state, vin, _ in seen if station == "reception"]
    assert len({vin for _, vin in reception if vin != "no vehicle"}) >= 2, reception
    assert len({state for state, _ in reception}) >= 2, reception
    refused = {code for _, _, _, code in seen if code is not None}
    assert LABEL in refused, "the label's read shown as text"
    assert await page.evaluate("window.scripts") == 0
    assert await page.evaluate("window.pwned") is None


async def check_passport(page: Page, base: str) -> list[str]:
    """The stations the passport of a released VIN lists."""
    await page.goto(f"{base}/vehicles?q={RELEASED_VIN}")
    await expect(page.locator("#vin")).to_have_text(RELEASED_VIN)
    await expect(page.locator(".final")).to_have_text("released")
    await screenshot(page, "passport")
    stations: list[str] = await page.locator("#visits > li.visit").evaluate_all(
        "vs => vs.map(v => v.dataset.station)"
    )
    return stations


async def check_figures(page: Page, base: str, db: str) -> None:
    """The charts' numbers are those of `station plant report --json` (today, UTC)."""
    report = await asyncio.to_thread(
        station_cli, "plant", "report", "--db", db, "--json", "--line-config", LINE
    )
    assert report.returncode == 0, report.stderr
    (line,) = json.loads(report.stdout)["lines"]
    await page.goto(f"{base}/figures")
    await expect(page.locator("#figures")).to_have_attribute("data-drawn", "true")
    name = line["line"]
    drawn = await bar_values(page, f"#throughput-{name}")
    assert drawn == [hour["released"] for hour in line["released_per_hour"]]
    yields = [g["first_pass_yield"] for g in line["gates"] if g["first_pass_yield"] is not None]
    assert await bar_values(page, f"#fpy-{name}") == yields
    assert sum(await bar_values(page, f"#lead-{name}")) == len(line["lead_times_s"])
    assert min(yields) < 1, "the gates failed once show it"
    await screenshot(page, "figures")


async def bar_values(page: Page, chart: str) -> list[float]:
    values: list[float] = await page.locator(f"{chart} svg rect").evaluate_all(
        "rs => rs.map(r => Number(r.dataset.value))"
    )
    return values


def running_from(folder: Path) -> list[str]:
    """Command lines of the processes naming `folder` (its mosquitto.conf)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in text:
            found.append(text)
    return found


@requires_mosquitto
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_line_into_either_database_through_a_given_broker(
    tmp_path: Path, plant_broker: Broker, plant_db: str
) -> None:
    state = tmp_path / "run"
    document = line_run(
        "--vehicles", "3", "--state-dir", str(state), "--broker", plant_broker.url, "--db", plant_db
    )
    vehicle = document["vehicles"][1]
    stops = [(stop["station"], stop["result"]) for stop in vehicle["journey"]]
    assert passport_stations(vehicle["vin"], plant_db) == stops
    report = station_cli("plant", "report", "--db", plant_db, "--json", "--since", "1h")
    assert report.returncode == 0, report.stderr
    (line,) = json.loads(report.stdout)["lines"]
    assert (line["entered"], line["released"] + line["held"], line["wip"]) == (3, 3, 0)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--broker", "mqtt://127.0.0.1:1883"], "--broker and --db go with --plant"),
        (["--plant", "--broker", "http://x"], "--broker: must be mqtt://"),
    ],
)
def test_plant_options_refused_in_one_line(args: list[str], says: str) -> None:
    done = station_cli("line", "--config", LINE, "--simulate", "--vehicles", "1", *args)
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


async def test_without_mosquitto_and_without_broker_it_says_to_pass_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker, "mosquitto", lambda: None)
    with pytest.raises(PlantInputError, match="mosquitto is not installed; pass --broker URL"):
        async with _plant.plant_side(None, None, tmp_path):
            pass


def test_a_database_already_used_is_refused(tmp_path: Path) -> None:
    from plant_rig import chained, incoming

    from station.plant.store import open_store

    db = str(tmp_path / "used.sqlite3")
    store = open_store(db)
    store.ingest(incoming(chained("reception", 2)))
    store.close()
    done = station_cli(
        "line", "--config", LINE, "--simulate", "--vehicles", "1", "--plant", "--db", db
    )
    assert done.returncode == 2, done.stderr
    assert "already holds stations" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
