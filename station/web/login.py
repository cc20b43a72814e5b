"""The web view's optional login (`station plant --users FILE`): the station users file
(`station.interface.users`: salted scrypt hashes, the same file as the OPC UA interface's),
any role may look (`viewer` is the role that may only look). Without `--users` there is
no login: the view is read-only and binds localhost by default.

- `POST /login` (a form: name, password, at most FORM_MAX bytes): the password is checked
  in a thread (scrypt costs tens of milliseconds: never on the event loop). Wrong
  passwords are throttled per client address (`station.interface.throttle.Backoff`: a few
  free, then a doubling wait), never per name; a refused login is logged with the name
  bounded and escaped.
- A session is a random token in a cookie (HttpOnly, SameSite=Strict, Path=/), kept in
  memory for SESSION_S (at most MAX_SESSIONS, the oldest dropped first); `POST /logout`
  ends it. A restart logs everyone out.
- `LoginRequired` answers every other request without a session: pages with a redirect to
  `/login`, the API and the stream with 401. `/login` and the static files are open.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from station.interface.logins import Authenticator
from station.interface.throttle import Backoff
from station.journal.untrusted import shown

log = structlog.get_logger("station.web")

COOKIE = "station_session"
SESSION_S = 12 * 3600.0
MAX_SESSIONS = 1000
FORM_MAX = 4096
NAME_MAX = 64
OPEN = ("/login", "/static/", "/theme.css")


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    until: float


class Login:
    def __init__(
        self,
        users: Path,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """ConfigError when the users file is not valid (or others may read it)."""
        self.authenticator = Authenticator.open(users)
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.sessions: OrderedDict[str, Session] = OrderedDict()

    def session(self, request: Request) -> Session | None:
        token = request.cookies.get(COOKIE, "")
        found = self.sessions.get(token)
        if found is None or found.until < self.clock():
            return None
        return found

    async def log_in(self, request: Request) -> Response:
        """The form posted: a session and a redirect, or the form again with why."""
        source = request.client.host if request.client else "?"
        form = await _form(request)
        if form is None:
            return Response("form too large", status_code=413)
        name, password = form.get("name", "")[:NAME_MAX], form.get("password", "")
        wait = self.backoff.wait_s(source)
        if wait > 0:
            return _again(f"too many wrong passwords: wait {wait:.0f} s", 429)
        self.authenticator.reload()
        role = await asyncio.to_thread(self.authenticator.check, name, password)
        if role is None:
            self.backoff.failed(source)
            log.warning("web_login_refused", user=shown(name), source=shown(source))
            return _again("wrong name or password", 401)
        self.backoff.succeeded(source)
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(name, str(role), self.clock() + SESSION_S)
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        log.info("web_login", user=shown(name), role=str(role), source=shown(source))
        answer = RedirectResponse(_local(form.get("next", "/")), status_code=303)
        answer.set_cookie(COOKIE, token, max_age=int(SESSION_S), httponly=True, samesite="strict")
        return answer

    async def log_out(self, request: Request) -> Response:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return answer


def _again(why: str, status: int) -> Response:
    """Back to the form, saying why (`status`: what a form-less client gets)."""
    return RedirectResponse(f"/login?error={quote(why)}&status={status}", status_code=303)


async def _form(request: Request) -> dict[str, str] | None:
    """An url-encoded form's first values (None: longer than FORM_MAX)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX:
            return None
    fields = parse_qs(body.decode(errors="replace"), max_num_fields=8)
    return {key: values[0] for key, values in fields.items()}


def _local(target: str) -> str:
    """A path of this site only (no `//host`, no scheme): else `/`."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class LoginRequired:
    """Every request but OPEN ones needs a session of `login`."""

    def __init__(self, app: ASGIApp, login: Login) -> None:
        self.app, self.login = app, login

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(OPEN):
            await self.app(scope, receive, send)
            return
        if self.login.session(Request(scope)) is not None:
            await self.app(scope, receive, send)
            return
        answer: Response
        if path.startswith("/api/") or path.endswith("/stream"):
            answer = JSONResponse({"error": "log in first"}, status_code=401)
        else:
            answer = RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        await answer(scope, receive, send)
