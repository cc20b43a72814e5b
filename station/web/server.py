"""`station plant --http HOST:PORT` (and `station line --plant --http`): the web view
served by uvicorn in the collector's own event loop (`WebView.run`, beside
`Collector.run`), on a socket bound at start (a port taken is a start error; port 0
picks a free one, `WebView.port` tells which), with its own subscription to the
stations' Sparkplug state (`station.web.node_feed`) when given the broker.

uvicorn's own signal handling is off: the collector's command owns SIGTERM/SIGINT and
cancels the view, which ends its open streams and shuts the server down.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import structlog
import uvicorn

from station.config.models import LineFile
from station.plant.lines import LineFacts, line_facts
from station.route import RouteSnapshot
from station.uplink.config import BrokerAddress
from station.web.app import WebApp
from station.web.board import Board
from station.web.live import Live
from station.web.login import Login
from station.web.node_feed import NodeFeed

SHUTDOWN_S = 2
LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")
log = structlog.get_logger("station.web")


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: asyncio.Event, url: str) -> None:
        super().__init__(config)
        self.ready, self.url = ready, url

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the command's own handlers stay

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            log.info("web_view_serving", url=self.url)
            self.ready.set()


def parse_http(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` (localhost) -> (host, port); ValueError otherwise."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--http {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def board_of(
    lines: list[LineFile], target_per_day: int, stale_after_s: float
) -> tuple[Board, dict[str, LineFacts]]:
    """The board of these lines (route order, routes, targets, exits) and their facts
    for the figures (the report's)."""
    facts = {line.line: line_facts(line) for line in lines}
    board = Board(
        routes={name: list(f.order) for name, f in facts.items()},
        snapshots={line.line: RouteSnapshot.from_line(line) for line in lines},
        targets={name: f.target_per_day for name, f in facts.items()},
        exits={name: f.exit_operation for name, f in facts.items()},
        target_per_day=target_per_day,
        stale_after_s=stale_after_s,
    )
    return board, facts


class WebView:
    def __init__(
        self,
        db_url: str,
        board: Board,
        host: str,
        port: int,
        *,
        facts: dict[str, LineFacts] | None = None,
        broker: BrokerAddress | None = None,
        login: Login | None = None,
    ) -> None:
        self.live = Live(db_url, board)
        self.web = WebApp(self.live, facts, login)
        self.feed = (
            None
            if broker is None
            else NodeFeed(broker, board.nodes, self._stations, self.live.changed)
        )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise ValueError(f"--http {host}:{port}: {exc.strerror or exc}") from None
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self.started = asyncio.Event()

    def _stations(self) -> list[tuple[str, str]]:
        board = self.live.board
        return [(t.line, t.station) for name in board.lines() for t in board.stations_of(name)]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def run(self) -> None:
        """Until cancelled. StoreError/ValueError when the database does not open."""
        try:
            await self.live.start()
        except BaseException:
            self._socket.close()
            raise
        config = uvicorn.Config(
            self.web.app,
            log_config=None,
            log_level=logging.WARNING,
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=SHUTDOWN_S,
        )
        server = _Server(config, self.started, self.url)
        following = asyncio.create_task(self.live.follow(), name="plant-web-follow")
        serving = asyncio.create_task(server.serve([self._socket]), name="plant-web-serve")
        tasks = [following, serving]
        if self.feed is not None:
            tasks.append(asyncio.create_task(self.feed.run(), name="plant-web-sparkplug"))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.web.stop()
            server.should_exit = True
            for task in tasks:
                if task is not serving:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._socket.close()
            await self.live.close()
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


def web_view(args: argparse.Namespace, db_url: str, broker: BrokerAddress) -> WebView:
    """The view `station plant --http` asked for, its socket bound; ValueError (one line)
    for a bad --http, --line-config, --stale-after, --target or --users, or a port taken."""
    from station.config.loader import ConfigError, load_line

    host, port = parse_http(args.http)
    if args.stale_after <= 0 or args.target <= 0:
        raise ValueError("--stale-after and --target must be above 0")
    lines = []
    for path in args.line_config:
        try:
            lines.append(load_line(path).model)
        except (ConfigError, OSError) as exc:
            raise ValueError(f"--line-config {path}: {' '.join(str(exc).split())}") from None
    board, facts = board_of(lines, args.target, args.stale_after)
    login = None
    if args.users is not None:
        try:
            login = Login(Path(args.users))
        except (ConfigError, OSError) as exc:
            raise ValueError(f"--users {args.users}: {' '.join(str(exc).split())}") from None
    view = WebView(db_url, board, host, port, facts=facts, broker=broker, login=login)
    if host not in LOCAL_HOSTS and login is None:
        log.warning("web_view_not_local", url=view.url, login="none: pass --users FILE")
    return view
