"""The plant beside a line run (`station line --simulate --plant`).

- The broker: the one of `--broker`, else Debian's `mosquitto` started for the run
  (`station.simulation.mosquitto`), stopped at the end. Without `mosquitto` installed
  and no `--broker`, the run is refused (`PlantInputError`).
- The collector (`station.plant.collector.Collector`) in the line's process, started and
  subscribed before the stations start, storing into `--db` (default: `plant.sqlite3` in
  the run's folder; the database must hold no station yet).
- Every station gets an uplink to that broker (its station file's `uplink:` replaced by
  the broker alone, defaults for the rest), which the assembly starts.
- With `http` (`--http HOST:PORT`): the web view (`station.web`) on the collector's loop,
  its board in the line file's route order, woken at each commit, following the stations'
  Sparkplug state on the same broker; `PlantSide.web.url` tells where (port 0: a free
  one). It stops after the collector, before the broker.
- `drain`: once the stations stopped, and before their uplinks stop, waits until the
  plant holds each station's whole journal (its head seq acknowledged), polling.
- `check`: the conservation check over the replica: every event of every journal is in
  the plant database once, as the station wrote it, its chain verified; every vehicle's
  passport has the stops of its journey (station and result, in order) and says released
  when the journey did; the report over the run counts the vehicles entered, released,
  held and in WIP as the line did.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from station.config.models import LineFile
from station.journal import JournalReader
from station.plant.collector import Collector, StartError
from station.plant.lines import line_facts
from station.plant.passport import passport
from station.plant.report import report
from station.plant.store import Head, Store, StoreError, open_store
from station.plant.verify import check_station
from station.simulation.line._layout import LineLayout
from station.simulation.line._records import Journey
from station.simulation.mosquitto import BrokerUnavailable, local_broker
from station.state_dir import journal_path
from station.uplink.config import Uplink, parse_broker_url

if TYPE_CHECKING:
    from station.web.server import WebView

log = structlog.get_logger("line.plant")

COLLECTOR_START_S = 30.0
DRAIN_S = 120.0
POLL_S = 0.1
STOP_RETRY_S = 1.0


class PlantInputError(Exception):
    """The plant side cannot be set up as asked; one line."""


def _empty(db: str) -> None:
    store = open_store(db)
    try:
        if store.heads():
            raise PlantInputError(f"--db {store.name} already holds stations: give a new one")
    finally:
        store.close()


@dataclasses.dataclass
class PlantSide:
    """The broker and the collector of a line run (see the module docstring)."""

    broker_url: str
    db: str
    collector: Collector
    web: WebView | None = None

    def with_uplinks(self, layout: LineLayout) -> LineLayout:
        """The layout with every station streaming to this broker."""
        uplink = Uplink(broker=self.broker_url)
        stations = {
            name: dataclasses.replace(
                loaded, model=loaded.model.model_copy(update={"uplink": uplink})
            )
            for name, loaded in layout.stations.items()
        }
        return dataclasses.replace(layout, stations=stations)

    async def drain(self, run_dir: Path, stations: Sequence[str]) -> None:
        """Until the plant acknowledged each station's whole journal (or DRAIN_S)."""

        def missing() -> list[str]:
            heads = {h.station: h.head_seq for h in self._heads()}
            behind = []
            for name in stations:
                with JournalReader.open(journal_path(run_dir / name)) as reader:
                    if heads.get(name, 0) < reader.head_seq():
                        behind.append(name)
            return behind

        deadline = time.monotonic() + DRAIN_S
        while behind := await asyncio.to_thread(missing):
            if time.monotonic() > deadline:
                log.error("line_plant_behind", stations=behind)
                return
            await asyncio.sleep(POLL_S)

    def _heads(self) -> list[Head]:
        store = open_store(self.db)
        try:
            return store.heads()
        finally:
            store.close()

    def check(
        self,
        layout: LineLayout,
        run_dir: Path,
        records: Sequence[Journey],
        since: float,
        until: float,
    ) -> list[str]:
        """The replica's conservation problems (empty: none). Blocking."""
        try:
            store = open_store(self.db)
        except (StoreError, ValueError) as exc:
            return [f"plant: {exc}"]
        try:
            problems = _replica(store, run_dir, list(layout.stations))
            problems += _passports(store, records)
            problems += _counts(store, layout, records, since, until)
            return problems
        except StoreError as exc:
            return [f"plant: {exc}"]
        finally:
            store.close()


def _replica(store: Store, run_dir: Path, stations: list[str]) -> list[str]:
    problems = []
    heads = {head.station: head for head in store.heads()}
    for name in stations:
        head = heads.get(name)
        if head is None:
            problems.append(f"plant: station {name}: nothing stored")
            continue
        verified = check_station(store, head)
        problems += [f"plant: station {name}: {problem}" for problem in verified.problems]
        with JournalReader.open(journal_path(run_dir / name)) as reader:
            written = reader.events()
        stored = [row.event for row in store.events(name, limit=len(written) + 1)]
        if stored != written:
            problems.append(
                f"plant: station {name}: the journal holds {len(written)} events, the plant "
                f"{len(stored)}" + ("" if len(stored) != len(written) else " (some differ)")
            )
    return problems


def _passports(store: Store, records: Sequence[Journey]) -> list[str]:
    problems = []
    for record in records:
        document = passport(store, record.vin)
        if document is None:
            problems.append(f"plant: {record.vin}: no passport")
            continue
        visits = [(v["station"], v["result"]) for v in document["visits"]]
        stops = [(s.station, s.result) for s in record.stops]
        if visits != stops:
            problems.append(f"plant: {record.vin}: the passport has {visits}, the journey {stops}")
        if (document["final"] == "released") != (record.final == "released"):
            problems.append(
                f"plant: {record.vin}: the passport says {document['final']}, "
                f"the journey ended {record.final}"
            )
    return problems


def _counts(
    store: Store, layout: LineLayout, records: Sequence[Journey], since: float, until: float
) -> list[str]:
    document = report(store, since, until, lines={layout.name: line_facts(layout.line.model)})
    lines = {line["line"]: line for line in document["lines"]}
    line = lines.get(layout.name)
    if line is None:
        return [f"plant: the report has no line {layout.name}"]
    expected = {
        "entered": sum(bool(r.stops) for r in records),
        "released": sum(r.final == "released" for r in records),
        "held": sum(r.final == "held" for r in records),
        "wip": sum(r.final not in ("released", "held") and bool(r.stops) for r in records),
    }
    found = {key: line[key] for key in expected}
    if found != expected:
        return [f"plant: the report counts {found}, the line {expected}"]
    return []


def _web_view(http: str, line: LineFile, database: str, broker: str) -> WebView:
    from station.web.board import STALE_AFTER_S, TARGET_PER_DAY
    from station.web.server import WebView, board_of, parse_http

    try:
        host, port = parse_http(http)
        board, facts = board_of([line], TARGET_PER_DAY, STALE_AFTER_S)
        return WebView(database, board, host, port, facts=facts, broker=parse_broker_url(broker))
    except ValueError as exc:
        raise PlantInputError(str(exc)) from None


@contextlib.asynccontextmanager
async def _serving(web: WebView) -> AsyncIterator[None]:
    """The web view's task, serving once entered; cancelled on exit."""
    task = asyncio.create_task(web.run(), name="line-plant-web")
    started = asyncio.create_task(web.started.wait())
    try:
        await asyncio.wait([task, started], timeout=COLLECTOR_START_S,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if not started.done():
            error = task.exception() if task.done() else None
            raise PlantInputError(f"the web view did not start: {error or 'no answer'}")
        yield
    finally:
        started.cancel()
        task.cancel()
        results = await asyncio.gather(task, started, return_exceptions=True)
        if isinstance(results[0], Exception):
            log.error("line_plant_web", error=str(results[0]))


@contextlib.asynccontextmanager
async def plant_side(
    broker_url: str | None,
    db: str | None,
    run_dir: Path,
    *,
    http: str | None = None,
    line: LineFile | None = None,
) -> AsyncIterator[PlantSide]:
    """The broker (given or started), the collector subscribed, the web view serving
    with `http` (the board of `line`); stopped on exit. PlantInputError when it cannot be
    set up."""
    database = db or str(run_dir / "plant.sqlite3")
    await asyncio.to_thread(functools.partial(run_dir.mkdir, parents=True, exist_ok=True))
    try:
        await asyncio.to_thread(_empty, database)
    except (StoreError, ValueError) as exc:
        raise PlantInputError(f"--db: {exc}") from None
    async with contextlib.AsyncExitStack() as stack:
        if broker_url is None:
            try:
                broker_url = await stack.enter_async_context(local_broker(run_dir / "broker"))
            except BrokerUnavailable as exc:
                raise PlantInputError(f"--plant needs a broker: {exc}; pass --broker URL") from None
        collector = Collector(
            parse_broker_url(broker_url), database, client_id=f"station-line-{os.getpid()}"
        )
        task = asyncio.create_task(collector.run(), name="line-plant-collector")
        started = asyncio.create_task(collector.connected.wait())
        try:
            await asyncio.wait([task, started], timeout=COLLECTOR_START_S,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if task.done():
                error = task.exception()
                raise PlantInputError(str(error) if error else "the collector ended")
            if not started.done():
                raise PlantInputError(f"the collector did not connect to {broker_url}")
            web = None
            if http is not None and line is not None:
                web = _web_view(http, line, database, broker_url)
                collector.on_commit = web.live.notify
                await stack.enter_async_context(_serving(web))
            yield PlantSide(broker_url, database, collector, web)
        finally:
            started.cancel()
            while not task.done():
                # Python 3.11's asyncio.wait_for (inside aiomqtt's calls) may lose a
                # cancellation that lands as its call completes: cancelled until it ends
                task.cancel()
                await asyncio.wait([task], timeout=STOP_RETRY_S)
            results = await asyncio.gather(task, started, return_exceptions=True)
            if isinstance(results[0], StartError):
                log.error("line_plant_collector", error=str(results[0]))
