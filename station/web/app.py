"""The read-only web view (Starlette): pages rendered on the server by Jinja2 with
autoescape on (every VIN, user name, reason and station name from the field is escaped),
live board updates over server-sent events, the package's own JavaScript and CSS from
`static/` (nothing from a CDN), security headers on every answer.

Routes:
- `/` -> `/lines/plant`; `/lines/LINE` the andon board of a line (or `plant`: every
  line), `/lines/LINE/stream` its updates (SSE: `{"html": fragment}` whenever the board
  changes, at most once a second when nothing but ages change; `board.js` applies it);
- `/vehicles?q=PART` search by VIN or partial VIN; `/vehicles/VIN` the passport;
- `/figures?since=DAY&until=DAY` the charts, drawn by `figures.js` from
  `/api/figures` (same query): `station plant report --json`'s document for those days
  (up to now), computed by the report's own functions (`station.plant.report.report`);
- `/api/lines/LINE`: the board as JSON; `/theme.css`: the console's colours;
- with a `Login` (`station plant --users`): `/login` (GET the form, POST it), `POST
  /logout`, and every other page behind it (`station.web.login`).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from station.plant.lines import LineFacts
from station.plant.passport import passport
from station.plant.report import report
from station.plant.store import StoreError
from station.web import reading
from station.web.board import PLANT
from station.web.live import Live
from station.web.login import Login, LoginRequired
from station.web.theme import theme_css

HERE = Path(__file__).parent
NEAREST = 5
KEEPALIVE_S = 15.0
QUERY_MAX = 64
"""Characters of a search or a VIN in a URL at most (a VIN is 17)."""

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, sending)


def vin_path(vin: str) -> str:
    return "/vehicles/" + quote(vin, safe="")


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["vin_path"] = vin_path
    environment.filters["quote"] = lambda value: quote(str(value), safe="")
    return environment


class WebApp:
    """The pages over one `Live` (its board and its database thread)."""

    def __init__(
        self, live: Live, facts: dict[str, LineFacts] | None = None, login: Login | None = None
    ) -> None:
        self.live = live
        self.facts = facts or {}
        self.login = login
        self.closing = asyncio.Event()
        self.jinja = templates()
        routes = [
            Route("/", self.home),
            Route("/lines/{line}", self.board_page),
            Route("/lines/{line}/stream", self.board_stream),
            Route("/api/lines/{line}", self.board_json),
            Route("/vehicles", self.search_page),
            Route("/vehicles/{vin:path}", self.passport_page),
            Route("/figures", self.figures_page),
            Route("/api/figures", self.figures_json),
            Route("/theme.css", self.theme),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        if login is not None:
            routes += [
                Route("/login", self.login_page),
                Route("/login", login.log_in, methods=["POST"]),
                Route("/logout", login.log_out, methods=["POST"]),
            ]
        self.starlette = Starlette(routes=routes)
        guarded: ASGIApp = self.starlette if login is None else LoginRequired(self.starlette, login)
        self.app = SecurityHeaders(guarded)

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("lines", self.live.board.lines())
        values.setdefault("login", self.login is not None)
        html = self.jinja.get_template(template).render(plant=PLANT, **values)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def not_found(self, what: str, **values: Any) -> HTMLResponse:
        return self.page("not_found.html", 404, what=what, **values)

    async def stop(self) -> None:
        """End every open stream (the server then shuts down without waiting on them)."""
        self.closing.set()
        async with self.live.changes:
            self.live.changes.notify_all()

    # --- the board -------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"/lines/{PLANT}", status_code=303)

    def _line(self, request: Request) -> str | None:
        line: str = request.path_params["line"]
        return line if line == PLANT or line in self.live.board.lines() else None

    def _view(self, line: str) -> dict[str, Any]:
        return self.live.board.view(line, self.live.clock())

    async def board_page(self, request: Request) -> Response:
        line = self._line(request)
        if line is None:
            return self.not_found(f"line {request.path_params['line']}")
        return self.page("board.html", view=self._view(line))

    async def board_json(self, request: Request) -> Response:
        line = self._line(request)
        if line is None:
            return JSONResponse({"error": "unknown line"}, status_code=404)
        return JSONResponse(self._view(line))

    async def board_stream(self, request: Request) -> Response:
        line = self._line(request)
        if line is None:
            return JSONResponse({"error": "unknown line"}, status_code=404)
        fragment = self.jinja.get_template("board_fragment.html")
        return StreamingResponse(
            self._updates(line, fragment),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def _updates(self, line: str, fragment: jinja2.Template) -> AsyncIterator[str]:
        sent: str | None = None
        quiet = 0.0
        changes = self.live.changes
        while not self.closing.is_set():
            html = fragment.render(view=self._view(line), plant=PLANT)
            if html != sent:
                sent, quiet = html, 0.0
                yield f"data: {json.dumps({'html': html})}\n\n"
            elif quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield ": keepalive\n\n"
            async with changes:
                started = asyncio.get_running_loop().time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changes.wait(), 1.0)
                quiet += asyncio.get_running_loop().time() - started

    # --- vehicles --------------------------------------------------------------------

    async def search_page(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()[:QUERY_MAX]
        found = await self.live.read(reading.search, query) if query else []
        if query and [v for v in found if v == query.upper()]:
            return RedirectResponse(vin_path(query.upper()), status_code=303)
        if len(found) == 1:
            return RedirectResponse(vin_path(found[0]), status_code=303)
        return self.page("search.html", query=query, found=found)

    async def passport_page(self, request: Request) -> Response:
        vin = request.path_params["vin"].strip()[:QUERY_MAX]
        try:
            document = await self.live.read(passport, vin)
            if document is None and vin != vin.upper():
                vin = vin.upper()  # typed in lower case
                document = await self.live.read(passport, vin)
            known = [] if document is not None else await self.live.read(_vins)
        except StoreError as exc:
            return self.page("not_found.html", 503, what="the plant database", error=str(exc))
        if document is None:
            nearest = difflib.get_close_matches(vin, known, n=NEAREST, cutoff=0.5)
            return self.not_found(f"VIN {vin}", nearest=nearest)
        return self.page("passport.html", passport=document, lead=hours(document["lead_time_s"]))

    # --- figures ---------------------------------------------------------------------

    def _range(self, request: Request) -> tuple[date, date, float, float]:
        """since, until as days (until included), and as the report's window: from the
        first day's start to the end of the last one, or now when that is earlier."""
        now = self.live.clock()
        today = datetime.fromtimestamp(now, UTC).date()
        since = _day(request.query_params.get("since"), today)
        until = max(since, _day(request.query_params.get("until"), today))
        start = datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()
        end = datetime(until.year, until.month, until.day, tzinfo=UTC).timestamp() + 86400
        return since, until, start, max(start + 1.0, min(end, now))

    async def figures_page(self, request: Request) -> Response:
        since, until, _, _ = self._range(request)
        api = f"/api/figures?since={since}&until={until}"
        return self.page("figures.html", since=since, until=until, api=api)

    async def figures_json(self, request: Request) -> Response:
        _, _, start, end = self._range(request)
        try:
            document = await self.live.read(report, start, end, lines=self.facts)
        except StoreError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse(document, headers={"cache-control": "no-store"})

    async def login_page(self, request: Request) -> Response:
        error = request.query_params.get("error", "")[:QUERY_MAX]
        status = request.query_params.get("status", "200")
        code = int(status) if status in ("401", "429") else 200
        target = request.query_params.get("next", "/")[:QUERY_MAX]
        return self.page("login.html", code, error=error, next=target, lines=[])

    async def theme(self, request: Request) -> Response:
        return Response(theme_css(), media_type="text/css")


def _vins(store: Any) -> list[str]:
    vins: list[str] = store.vins()
    return vins


def _day(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        return default


def hours(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h ({timedelta(seconds=round(seconds))})"
