"""The web view's optional login (`station plant --users`) against the real server
(uvicorn on a free port, the real users file with scrypt hashes), with an HTTP client:
nothing without a session but the login form; wrong passwords throttled per address; a
viewer's session cookie HttpOnly and SameSite=Strict; logging out ends it."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from station.interface.throttle import Backoff
from station.interface.users import add_user
from station.web.board import Board
from station.web.login import COOKIE, Login
from station.web.server import WebView

PASSWORD = "a-viewer-password"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WebView, Clock]]:
    users = tmp_path / "users.yaml"
    add_user(users, "vera", "viewer", PASSWORD)
    clock = Clock()
    login = Login(users, Backoff(free=2, base_s=30, clock=clock))
    view = WebView(str(tmp_path / "plant.sqlite3"), Board(), "127.0.0.1", 0, login=login)
    task = asyncio.create_task(view.run())
    try:
        async with asyncio.timeout(30):
            await view.started.wait()
        yield view, clock
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def request(
    port: int, method: str, path: str, body: dict[str, str] | None = None, cookie: str = ""
) -> tuple[int, dict[str, str], list[str]]:
    """(status, headers, every Set-Cookie) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"cookie": cookie} if cookie else {}
        data = None
        if body is not None:
            data = urlencode(body)
            headers["content-type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=data, headers=headers)
        answer = connection.getresponse()
        answer.read()
        cookies = answer.headers.get_all("set-cookie") or []
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, cookies
    finally:
        connection.close()


async def test_a_viewer_logs_in_wrong_passwords_wait_and_nothing_is_open_without(
    served: tuple[WebView, Clock],
) -> None:
    view, clock = served
    port = view.port

    async def call(*args: object, **kwargs: object) -> tuple[int, dict[str, str], list[str]]:
        return await asyncio.to_thread(request, port, *args, **kwargs)  # type: ignore[arg-type]

    status, headers, _ = await call("GET", "/lines/plant")
    assert (status, headers["location"]) == (303, "/login?next=/lines/plant")
    assert (await call("GET", "/api/lines/plant"))[0] == 401
    assert (await call("GET", "/lines/plant/stream"))[0] == 401
    status, headers, _ = await call("GET", "/login")
    assert status == 200 and "frame-ancestors 'none'" in headers["content-security-policy"]

    wrong = {"name": "vera", "password": "guess", "next": "/figures"}
    for _ in range(2):  # the free ones
        status, headers, cookies = await call("POST", "/login", wrong)
        assert (status, cookies) == (303, []) and "status=401" in headers["location"]
    right = {**wrong, "password": PASSWORD}
    status, headers, _ = await call("POST", "/login", right)
    assert "status=429" in headers["location"], "this address waits, even with the right one"
    clock.now += 31
    status, headers, cookies = await call("POST", "/login", {**right, "next": "//evil.example"})
    assert (status, headers["location"]) == (303, "/"), "only a path of this site"
    (cookie,) = cookies
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    session = cookie.split(";")[0]
    assert (await call("GET", "/api/lines/plant", cookie=session))[0] == 200
    assert (await call("GET", "/figures", cookie=session))[0] == 200
    await call("POST", "/logout", {}, cookie=session)
    assert (await call("GET", "/api/lines/plant", cookie=session))[0] == 401
