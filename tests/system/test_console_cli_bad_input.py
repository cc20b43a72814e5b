"""`station console` given what it cannot start with (issue 13): an endpoint that is
not an opc.tcp URL, a user whose password cannot be had. Real subprocesses, in a
session of their own (no controlling terminal) with stdin at /dev/null: exit 2,
one line on stderr saying what to do, no traceback, and no screen opened."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.commands.console import BadOption, check_endpoint, password_of

REPO = Path(__file__).resolve().parent.parent.parent


def station_console(*args: str) -> tuple[int, list[str]]:
    """`station console ARGS` without a terminal: exit code, stderr lines. A console
    that opened its screen instead would be killed at the timeout, failing the test."""
    environment = {k: v for k, v in os.environ.items() if k != "STATION_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "station.cli", "console", *args],
        cwd=REPO, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=30, check=False, start_new_session=True,
    )  # fmt: skip
    return done.returncode, done.stderr.splitlines()


def test_a_user_without_password_nor_terminal() -> None:
    code, lines = station_console("--user", "alice")
    assert (code, lines) == (2, [
        "station console: no password for alice and no terminal to ask it on: "
        "give it in $STATION_PASSWORD or with --password-file FILE"
    ])  # fmt: skip


def test_a_password_file_that_is_not_there(tmp_path: Path) -> None:
    missing = tmp_path / "password"
    code, lines = station_console("--user", "alice", "--password-file", str(missing))
    assert (code, lines) == (2, [
        f"station console: --password-file {missing}: No such file or directory: "
        "give a file that this user can read"
    ])  # fmt: skip


@pytest.mark.parametrize(
    "endpoint",
    ["notaurl", "opc.tcp://127.0.0.1", "opc.tcp://:4840/station", "http://127.0.0.1:4840",
     "opc.tcp://127.0.0.1:port/station", "opc.tcp://127.0.0.1:70000", "opc.tcp://127.0.0.1:0"],
)  # fmt: skip
def test_an_endpoint_that_is_not_an_opc_tcp_url(endpoint: str) -> None:
    code, lines = station_console("--endpoint", endpoint)
    assert (code, lines) == (2, [
        f"station console: --endpoint {endpoint!r}: expected opc.tcp://HOST:PORT[/path], "
        "e.g. opc.tcp://127.0.0.1:4840/station"
    ])  # fmt: skip


@pytest.mark.parametrize(
    "endpoint",
    ["opc.tcp://127.0.0.1:4840/station", "opc.tcp://[::1]:4840", "opc.tcp://ipc-07.plant:4840/"],
)
def test_opc_tcp_urls_are_taken(endpoint: str) -> None:
    assert check_endpoint(endpoint) == endpoint


def options(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"user": "alice", "password_file": None, **given})


def test_the_password_is_the_first_line_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATION_PASSWORD", "from the environment")
    secret = tmp_path / "password"
    secret.write_text("correct horse\nignored\n")
    assert password_of(options(password_file=secret)) == "correct horse"
    assert password_of(options()) == "from the environment"
    secret.write_text("\n")
    with pytest.raises(BadOption, match="its first line, the password, is empty"):
        password_of(options(password_file=secret))
    with pytest.raises(BadOption, match="give --user NAME too"):
        password_of(options(user=None, password_file=secret))
