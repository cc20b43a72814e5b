"""The rig of the web view's browser tests: a line of real station journals (`Journal`)
each streamed by the real uplink (`station.uplink`) to a real Mosquitto, the real
`station plant --http` command (collector and web view, one process) storing them, and
the system's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mqtt_broker import Broker
from playwright.async_api import Browser, Page, async_playwright
from uplink_rig import Recorder, status

from station.journal import Event, Journal
from station.uplink.config import Uplink as UplinkConfig
from station.uplink.link import Uplink

CHROMIUM = Path("/usr/bin/chromium")
LINE_FILE = Path(__file__).parent.parent / "configs" / "lines" / "line1.yaml"
LINE = "line-1"
START_S = 60.0
SCREENSHOTS = Path(__file__).parent.parent / "docs" / "screenshots"
WAIT_MS = 10_000
"""Playwright's waits (expect, wait_for) give up after this."""


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """The system's Chromium, headless (never a downloaded browser)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: Browser) -> Page:
    """A 1920x1080 page (a wall screen) that fails the test if a dialog opens."""
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    page.set_default_timeout(WAIT_MS)

    def dialog(opened: Any) -> None:
        raise AssertionError(f"a dialog opened: {opened.message}")

    page.on("dialog", dialog)
    return page


async def screenshot(page: Page, name: str) -> None:
    """A README screenshot (docs/screenshots/NAME.png), the viewport as shown."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


@dataclass
class Station:
    name: str
    journal: Journal
    uplink: Uplink
    appended: list[Event] = field(default_factory=list)

    async def append(self, kind: str, **fields: Any) -> Event:
        event = await self.journal.append(kind, **fields)
        self.appended.append(event)
        self.uplink.changed()
        return event


@contextlib.asynccontextmanager
async def stations(
    broker: Broker, directory: Path, names: list[str]
) -> AsyncIterator[dict[str, Station]]:
    """A journal and a running uplink per station of `names`."""
    recorder = Recorder()
    settings = {"backoff_min_s": 0.05, "backoff_max_s": 0.3, "keepalive_s": 5}
    async with contextlib.AsyncExitStack() as stack:
        line: dict[str, Station] = {}
        for name in names:
            state = directory / name
            state.mkdir(parents=True)
            journal = Journal.open(state / "journal.sqlite3", name)
            journal.config_hash = "c0ffee"
            stack.push_async_callback(journal.close)
            uplink = Uplink(
                UplinkConfig(broker=broker.url, **settings),
                state / "journal.sqlite3",
                name,
                LINE,
                state,
                status,
                recorder.alarm,
                recorder.note,
            )
            await stack.enter_async_context(uplink)
            line[name] = Station(name, journal, uplink)
        yield line


@dataclass
class Plant:
    """`station plant --http` as a process; `url` of its web view."""

    process: asyncio.subprocess.Process
    url: str
    db: str
    log: list[dict[str, Any]]


async def _wait_logged(
    process: asyncio.subprocess.Process, log: list[dict[str, Any]], wanted: set[str]
) -> None:
    assert process.stderr is not None
    while wanted:
        line = await process.stderr.readline()
        assert line, f"station plant ended ({await process.wait()}): {log[-5:]}"
        try:
            entry = json.loads(line)
        except ValueError:  # a refusal is one plain line: kept, to say why it ended
            entry = {"event": "stderr", "line": line.decode(errors="replace").rstrip()}
        log.append(entry)
        wanted.discard(entry.get("event", ""))


async def _drain(process: asyncio.subprocess.Process, log: list[dict[str, Any]]) -> None:
    assert process.stderr is not None
    async for line in process.stderr:
        with contextlib.suppress(ValueError):
            log.append(json.loads(line))


@contextlib.asynccontextmanager
async def plant(broker: Broker, db: str, *extra: str) -> AsyncIterator[Plant]:
    """The collector and its web view, subscribed and serving; SIGTERM at exit (exit 0)."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "station.cli", "plant", "--broker", broker.url, "--db", db),
        *("--http", "127.0.0.1:0", "--line-config", str(LINE_FILE), *extra),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log: list[dict[str, Any]] = []
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(START_S):
            await _wait_logged(process, log, {"plant_subscribed", "web_view_serving"})
        drain = asyncio.create_task(_drain(process, log))
        (url,) = [e["url"] for e in log if e.get("event") == "web_view_serving"]
        yield Plant(process, url, db, log)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(START_S):
            assert await process.wait() == 0, log[-5:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if drain is not None:
            await drain
