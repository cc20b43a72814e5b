"""`station plant --broker URL [--db URL] [--prefix P] [--client-id ID] [--http HOST:PORT]`:
the plant collector (`station.plant.collector`), a service: runs until SIGTERM or SIGINT.
With `--http`, it also serves the read-only web view (`station.web`) in the same event
loop (`--line-config` gives the lines' route order, `--stale-after` when a silent station
shows STALE, `--target` the plant's vehicles a day, `--users` a login).

Exit 0 on SIGTERM/SIGINT; 2 with one line on stderr for a bad --broker, --db or --http,
a database that cannot be opened, an HTTP port taken, or a broker unreachable at start
(once connected, a lost broker is reconnected to, forever).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from station.plant.store import add_db_argument

if TYPE_CHECKING:
    from station.uplink.config import BrokerAddress
    from station.web.server import WebView


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker", metavar="URL", help="the plant broker, mqtt://HOST:PORT or mqtts://HOST:PORT"
    )
    add_db_argument(parser)
    parser.add_argument(
        "--prefix",
        default="plant",
        help="topic prefix of the stations' journal streams (uplink.topic_prefix; default: plant)",
    )
    parser.add_argument(
        "--client-id",
        default="station-plant",
        help="MQTT client id; its persistent session keeps what comes while the collector "
        "is down (default: station-plant)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    web = parser.add_argument_group("web view")
    web.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve the read-only web view (andon board, passports, figures) here; "
        "HOST defaults to 127.0.0.1",
    )
    web.add_argument(
        "--line-config",
        metavar="FILE",
        action="append",
        default=[],
        help="a line file (configs/lines/*.yaml): its stations in route order on the board "
        "(repeatable; without it a line's stations are in name order)",
    )
    web.add_argument(
        "--stale-after",
        metavar="S",
        type=float,
        default=60.0,
        help="a station with no event for S seconds shows STALE (default: 60)",
    )
    web.add_argument(
        "--target", metavar="N", type=int, default=180, help="vehicles a day (default: 180)"
    )
    web.add_argument(
        "--users",
        metavar="FILE",
        help="log in to the web view with a user of this station users file (any role; "
        "`viewer` may only look); without it, no login: keep --http on localhost",
    )


def _refuse(message: str) -> int:
    from station.journal import printable

    print(printable(f"station plant: {message}"), file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from station import logs
    from station.plant.store import default_db
    from station.uplink.config import parse_broker_url

    if args.broker is None:
        return _refuse("--broker URL is required (mqtt://HOST:PORT)")
    try:
        broker = parse_broker_url(args.broker)
    except ValueError as exc:
        return _refuse(f"--broker: {exc}")
    if not args.prefix or any(c in args.prefix for c in "+#") or args.prefix.endswith("/"):
        return _refuse(f"--prefix {args.prefix!r}: a topic level without wildcards")
    logs.configure(args.log_level)
    web: WebView | None = None
    if args.http is not None:
        from station.web.server import web_view

        try:
            web = web_view(args, args.db or default_db(), broker)
        except ValueError as exc:
            return _refuse(str(exc))
    return asyncio.run(_main(args, broker, args.db or default_db(), web))


async def _main(
    args: argparse.Namespace, broker: BrokerAddress, db: str, web: WebView | None
) -> int:
    from station.plant.collector import Collector, StartError
    from station.plant.store import StoreError

    collector = Collector(broker, db, prefix=args.prefix, client_id=args.client_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(collector.run(), name="plant-collector")]
    if web is not None:
        collector.on_commit = web.live.notify
        tasks.append(asyncio.create_task(web.run(), name="plant-web"))
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*tasks, stopping):
            task.cancel()
        results = await asyncio.gather(*tasks, stopping, return_exceptions=True)
    for result in results:
        if isinstance(result, (StartError, StoreError, ValueError)):
            return _refuse(str(result))
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result
    return 0
