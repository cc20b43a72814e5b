"""`station plant --broker URL [--db URL] [--prefix P] [--client-id ID]`: the plant
collector (`station.plant.collector`), a service: runs until SIGTERM or SIGINT.

Exit 0 on SIGTERM/SIGINT; 2 with one line on stderr for a bad --broker or --db, a
database that cannot be opened, or a broker unreachable at start (once connected, a lost
broker is reconnected to, forever).
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
    return asyncio.run(_main(args, broker, args.db or default_db()))


async def _main(args: argparse.Namespace, broker: BrokerAddress, db: str) -> int:
    from station.plant.collector import Collector, StartError

    collector = Collector(broker, db, prefix=args.prefix, client_id=args.client_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(collector.run(), name="plant-collector")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        task.cancel()
        results = await asyncio.gather(task, stopping, return_exceptions=True)
    if isinstance(results[0], StartError):
        return _refuse(str(results[0]))
    if isinstance(results[0], BaseException) and not isinstance(results[0], asyncio.CancelledError):
        raise results[0]
    return 0
