"""The plant's web view in a real browser (headless Chromium of the system, driven by
Playwright): station journals streamed by the real uplink through a real Mosquitto to
the real `station plant --http` (collector and web view in one process), on both
databases. The andon board shows every station of the line in route order and follows
the line without a reload; held vehicles appear in the held list; the passport of a
released VIN lists every station it went through; the figures page draws its charts;
VINs, user names and reasons from the field are shown escaped and never run; a station
whose Sparkplug node dies (its NDEATH, with its birth's bdSeq) shows STALE, and is live
again at its next NBIRTH. The README's screenshots come from the line run
(tests/system/test_line_plant.py), the same pages on real stations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
from mqtt_broker import Broker, requires_mosquitto
from playwright.async_api import Browser, Locator, Page, expect
from web_rig import CHROMIUM, LINE, LINE_FILE, WAIT_MS, Plant, Station, chromium, new_page, plant
from web_rig import stations as line_of

from station.config.loader import load_line
from station.uplink import sparkplug

pytest_plugins = ["mqtt_fixtures"]
pytestmark = [
    requires_mosquitto,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (.ci/run installs it)"),
]

LIVE_S = 3.0
"""From a station's journal append to the tile in the browser, at most (the uplink's
publish, the collector's commit, the view's read, the push; the view's own part is
within 1 s of the commit)."""
ROUTE = load_line(LINE_FILE).model.route
STATIONS = [*dict.fromkeys([op.station for op in ROUTE.operations] + [ROUTE.rework.station])]
SILENT = "body-paint"
"""A station that never sends anything: STALE."""
RELEASED = "VF1RFB00X66123403"
HELD = "VF1RFB00X66123404"
NASTY_VIN = 'VF1<script>window.pwned=1</script>"'
NASTY_USER = "<img src=x onerror=window.pwned=2>"
NASTY_REASON = "<script>window.pwned=3</script> stuck & 'left'"


expect.set_options(timeout=WAIT_MS)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def journey(line: dict[str, Station], vin: str) -> None:
    """`vin` through every operation of the route, each passed and released."""
    for operation in ROUTE.operations:
        if operation.station == SILENT:
            continue  # bodywork is conditional: this vehicle needs none
        station = line[operation.station]
        await station.append("state", result="Execute", data={"from": "Idle"})
        await station.append("cycle_started", data={"cycle": len(station.appended)})
        if operation.kind == "check_in":
            await station.append("progress", vin=vin, step="0:identify", data={"tag": "00"})
            await station.append("identified", vin=vin, step="0:identify", data={"model": "Clio"})
        await station.append(
            "admitted", vin=vin, step="0:identify", data={"operation": operation.operation}
        )
        await station.append("step_started", vin=vin, step="1:work")
        await station.append("step_done", vin=vin, step="1:work", result="ok")
        if operation.gate:
            await station.append("verdict", vin=vin, step="1:work", result="pass", operator="ines")
        await station.append("released", vin=vin, step="2:release", result="passed")
        await station.append("cycle_ended", vin=vin, result="passed")
        await station.append("state", result="Idle", data={"from": "Execute"})


async def stored(page: Page, line: dict[str, Station]) -> None:
    """Until the board shows every station's last event (so the plant stored them all)."""
    for name, station in line.items():
        seq = str(station.appended[-1].seq)
        await expect(tile(page, name)).to_have_attribute("data-seq", seq)


def tile(page: Page, station: str) -> Locator:
    return page.locator(f'li.tile[data-station="{station}"]')


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_the_board_passport_and_figures_in_a_browser(
    tmp_path: Path, plant_broker: Broker, plant_db: str, browser: Browser
) -> None:
    async with plant(plant_broker, plant_db) as served:
        live = [name for name in STATIONS if name != SILENT]
        async with line_of(plant_broker, tmp_path / "stations", live) as line:
            for station in line.values():
                await station.append("state", result="Idle", data={"from": "Stopped"})
            page = await new_page(browser)
            answer = await page.goto(f"{served.url}/lines/{LINE}")
            assert answer is not None and answer.ok
            headers = await answer.all_headers()
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert "script-src 'self'" in headers["content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            await check_board(browser, page, line, served)
            await check_node_death(page, plant_broker)
            await journey(line, RELEASED)
            await stored(page, line)
            await check_passport(page, served)
            await check_figures(page, served)
        await page.close()


async def check_board(
    browser: Browser, page: Page, line: dict[str, Station], served: Plant
) -> None:
    loop = asyncio.get_running_loop()
    tiles = page.locator("li.tile")
    await expect(tiles).to_have_count(len(STATIONS))
    assert await tiles.evaluate_all("ts => ts.map(t => t.dataset.station)") == STATIONS
    await expect(page.locator("#link")).to_have_text("live")
    for name in STATIONS:
        if name != SILENT:
            await expect(tile(page, name).locator(".state")).to_have_text("Idle")
    await expect(tile(page, SILENT).locator(".stale-flag")).to_contain_text("STALE")
    await page.evaluate("window.sameDocument = true")

    # a vehicle comes into the reception: state and VIN change without a reload
    reception = line["reception"]
    started = loop.time()
    await reception.append("state", result="Execute", data={"from": "Idle"})
    await reception.append("cycle_started", data={"cycle": 1})
    await reception.append("progress", vin=HELD, step="0:identify", data={"tag": "00"})
    await reception.append("identified", vin=HELD, step="0:identify", data={"model": "Zoe"})
    await reception.append("step_started", vin=HELD, step="1:identify")
    await expect(tile(page, "reception").locator(".state")).to_have_text("Execute")
    await expect(tile(page, "reception").locator(".vin")).to_have_text(HELD)
    latency = loop.time() - started
    assert latency < LIVE_S, f"the tile changed {latency:.2f} s after the append"
    await expect(tile(page, "reception")).to_have_class("tile state-running")
    await expect(page.locator('[data-counter="entered"]')).to_have_text("1")

    # it is held there: the held list shows it with its reason, escaped
    await reception.append(
        "hold", vin=HELD, step="1:identify", result="timeout", data={"message": NASTY_REASON}
    )
    await reception.append("state", result="Held", data={"from": "Execute"})
    row = page.locator(f'#held-list tr[data-vin="{HELD}"]')
    await expect(row.locator(".reason")).to_have_text(NASTY_REASON)
    await expect(tile(page, "reception").locator(".state")).to_have_text("Held")
    await expect(tile(page, "reception")).to_have_class("tile state-held")

    # a VIN and a user name from the field holding markup: shown as text, never run
    cleaning = line["cleaning"]
    await cleaning.append("cycle_started", data={"cycle": 1})
    await cleaning.append("admitted", vin=NASTY_VIN, step="0:id", data={"operation": "cleaning"})
    await cleaning.append(
        "checklist_item",
        vin=NASTY_VIN,
        step="1:checklist",
        result="ok",
        operator=NASTY_USER,
        data={"index": 0, "text": "<b>interior</b>"},
    )
    await cleaning.append("step_started", vin=NASTY_VIN, step="1:checklist")
    await expect(tile(page, "cleaning").locator(".vin")).to_have_text(NASTY_VIN)
    assert await page.locator("#board script, #board img").count() == 0
    assert await page.evaluate("window.sameDocument") is True, "the page was reloaded"
    passport = await new_page(browser)
    await passport.goto(f"{served.url}/lines/{LINE}")
    await passport.locator('li.tile[data-station="cleaning"] .vin a').click()
    await expect(passport.locator("#vin")).to_have_text(NASTY_VIN)
    await expect(passport.locator(".visit .operators")).to_have_text(NASTY_USER)
    assert await passport.evaluate("window.pwned") is None
    await passport.close()
    assert await page.evaluate("window.pwned") is None


async def check_node_death(page: Page, broker: Broker) -> None:
    """The broker delivers a station's NDEATH (as it does its Will when the station's
    connection dies), with the bdSeq of the birth the station's real uplink sent: STALE;
    the station's next NBIRTH (a rebirth asked of its uplink): live again."""
    station = "photo-studio"
    flag = tile(page, station).locator(".stale-flag")
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(f"spBv1.0/{LINE}/NBIRTH/{station}")
        rebirth = sparkplug.encode({sparkplug.REBIRTH: (sparkplug.DataType.BOOLEAN, True)}, 0)
        await client.publish(f"spBv1.0/{LINE}/NCMD/{station}", rebirth)
        async with asyncio.timeout(WAIT_MS / 1000):
            birth = await anext(aiter(client.messages))
        payload = sparkplug.Payload.FromString(birth.payload)
        bd_seq = next(m.long_value for m in payload.metrics if m.name == sparkplug.BD_SEQ)
        await expect(flag).to_have_count(0)
        node = sparkplug.EdgeNode(LINE, station, bd_seq=bd_seq)
        await client.publish(f"spBv1.0/{LINE}/NDEATH/{station}", node.death(), qos=1)
        await expect(flag).to_contain_text("offline (NDEATH)")
        await client.publish(f"spBv1.0/{LINE}/NCMD/{station}", rebirth)
        await expect(flag).to_have_count(0)


async def check_passport(page: Page, served: Plant) -> None:
    await expect(page.locator('[data-counter="released"]')).to_have_text("1")
    await page.fill("#q", RELEASED[-6:])  # a partial VIN: the one match opens
    await page.press("#q", "Enter")
    await expect(page.locator("#vin")).to_have_text(RELEASED)
    visited = [op.station for op in ROUTE.operations if op.station != SILENT]
    visits = page.locator("#visits > li.visit")
    await expect(visits).to_have_count(len(visited))
    assert await visits.evaluate_all("vs => vs.map(v => v.dataset.station)") == visited
    await expect(page.locator(".final")).to_have_text("released")


async def check_figures(page: Page, served: Plant) -> None:
    await page.goto(f"{served.url}/figures")
    figures = page.locator("#figures")
    await expect(figures).to_have_attribute("data-drawn", "true")
    await expect(page.locator(f"#throughput-{LINE}")).to_have_attribute("data-bars", "1")
    gates = [op.operation for op in ROUTE.operations if op.gate]
    fpy = page.locator(f"#fpy-{LINE}")
    await expect(fpy).to_have_attribute("data-bars", str(len(gates)))
    for gate in gates:
        await expect(fpy.locator("svg")).to_contain_text(gate)
    await expect(page.locator(f"#lead-{LINE} svg rect")).to_have_count(1)
    states = page.locator(f"#states-{LINE}")
    assert int(await states.get_attribute("data-bars") or 0) >= len(STATIONS) - 1
