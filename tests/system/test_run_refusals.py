"""`station run` refuses what would fail once started, before anything starts: exit 2,
one line on stderr naming the file, port or value and what to do, no traceback, no
`station_started` journaled. `station journal show/verify` refuse an odd state
directory the same way."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from station.cli import main
from station.commands.run import command_line
from station.journal import Journal
from station.state_dir import journal_path

ROOT = Path(__file__).parent.parent.parent
LINE = ROOT / "configs" / "lines" / "line1.yaml"
STATION = "diagnosis"  # tests/stations/checklist-only.yaml


def _station_file(folder: Path) -> Path:
    text = (ROOT / "tests" / "stations" / "checklist-only.yaml").read_text()
    path = folder / "station.yaml"
    path.write_text(text.replace("../../configs/lines/line1.yaml", str(LINE)))
    return path


def _refused(argv: list[str]) -> str:
    """Run `argv`; assert the refusal's shape and return its one line."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _started_events(state: Path) -> int:
    conn = sqlite3.connect(journal_path(state))
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM events WHERE kind = 'station_started'"
        ).fetchone()
    finally:
        conn.close()
    return int(count)


def _run_refused(tmp_path: Path, state: Path, *options: str) -> str:
    return _refused([*command_line(_station_file(tmp_path), state, opcua="off"), *options])


def _journal(state: Path, station: str, events: int = 0) -> None:
    async def write() -> None:
        async with Journal.open(journal_path(state), station) as journal:
            for index in range(events):
                await journal.append("note", data={"i": index})

    state.mkdir(exist_ok=True)
    asyncio.run(write())


ADVICE = "give --state-dir a directory this user can write (or create)"
NOT_DB = b"not a database\n" * 300


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("")
    return tmp_path / "a-file"


def _read_only(tmp_path: Path) -> Path:
    (tmp_path / "state").mkdir(mode=0o500)
    return tmp_path / "state"


def _not_sqlite(tmp_path: Path) -> Path:
    (tmp_path / "state").mkdir()
    journal_path(tmp_path / "state").write_bytes(NOT_DB)
    return tmp_path / "state"


def _journal_a_directory(tmp_path: Path) -> Path:
    journal_path(tmp_path / "state").mkdir(parents=True)
    return tmp_path / "state"


ODD_STATE_DIRS = [
    pytest.param(
        _a_file,
        "state directory {state} (from --state-dir) is not a directory: " + ADVICE,
        id="a-file",
    ),
    pytest.param(
        lambda tmp_path: _a_file(tmp_path) / "state",  # fails for root too
        "state directory {state} (from --state-dir) cannot be created (Not a directory): " + ADVICE,
        id="under-a-file",
    ),
    pytest.param(
        _read_only,
        "state directory {state} (from --state-dir) is not writable by this user: " + ADVICE,
        id="read-only",
        marks=pytest.mark.skipif(
            os.geteuid() == 0, reason="root writes into a read-only directory"
        ),
    ),
    pytest.param(
        _not_sqlite,
        "{journal}: not a station journal: file is not a database: move that file away, or "
        "give --state-dir another directory",
        id="not-sqlite",
    ),
    pytest.param(
        _journal_a_directory,
        "{journal}: Is a directory: move it away, or give --state-dir another directory",
        id="journal-a-directory",
    ),
]


@pytest.mark.parametrize(("make", "expected"), ODD_STATE_DIRS)
def test_an_odd_state_dir(make: Callable[[Path], Path], expected: str, tmp_path: Path) -> None:
    state = make(tmp_path)
    line = _run_refused(tmp_path, state)
    assert line == "station run: " + expected.format(state=state, journal=journal_path(state))
    if state.name == "state" and journal_path(state).is_file():
        assert journal_path(state).read_bytes() == NOT_DB  # left as it was


def test_the_journal_of_another_station(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _journal(state, "paint-shop")
    line = _run_refused(tmp_path, state)
    assert _started_events(state) == 0
    assert line.startswith(f"station run: journal {journal_path(state)} belongs to station ")
    assert line.endswith(f"give station {STATION} its own --state-dir")


def test_a_broken_journal_says_where_and_how_to_go_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _journal(state, STATION, events=3)
    conn = sqlite3.connect(journal_path(state), isolation_level=None)
    try:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET result = 'forged' WHERE seq = 2")
    finally:
        conn.close()
    line = _run_refused(tmp_path, state)
    assert _started_events(state) == 0
    assert line.startswith(f"station run: journal {journal_path(state)} does not verify: seq 2")
    assert f"`station journal verify --state-dir {state}`" in line
    assert f"`station journal seal --state-dir {state} --reason TEXT --user NAME`" in line


def test_a_busy_opcua_port_names_the_endpoint(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"opc.tcp://127.0.0.1:{taken.getsockname()[1]}/station"
        argv = command_line(_station_file(tmp_path), state, simulate=True, opcua=endpoint)
        line = _refused(argv)
    assert line == (
        f"station run: OPC UA endpoint {endpoint}: its port is in use (is another `station "
        "run` serving it?): stop that process or give --opcua URL another port"
    )
    assert not journal_path(state).exists()  # refused before the journal opened


def test_a_bad_users_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("- alice\n")
    state = tmp_path / "state"
    argv = command_line(_station_file(tmp_path), state, simulate=True)
    line = _refused([*argv, "--users", str(users)])
    assert line.startswith(f"{users}:1: <file>: a list, not a users file")
    assert not state.exists()


@pytest.mark.parametrize("command", ["show", "verify", "seal"])
def test_journal_tools_refuse_a_state_dir_that_is_a_file(command: str, tmp_path: Path) -> None:
    state = tmp_path / "a-file"
    state.write_text("")
    argv = [sys.executable, "-m", "station.cli", "journal", command, "--state-dir", str(state)]
    if command == "seal":
        argv += ["--reason", "investigated", "--user", "sam"]
    assert _refused(argv) == (
        f"station journal {command}: state directory {state} (from --state-dir) is not a "
        "directory: give --state-dir a directory this user can write (or create)"
    )


def test_a_port_taken_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`station run` checks the port by binding the endpoint's sockets itself, before
    anything starts, and hands them to the server's process (no other process can take
    the port between a check and the server's start): a port taken is refused before
    the journal or a simulator is opened, and nothing is left behind."""
    config = ROOT / "tests" / "stations" / "photo-quick.yaml"
    state = tmp_path / "state"
    threads = threading.active_count()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"opc.tcp://127.0.0.1:{taken.getsockname()[1]}/station"
        argv = command_line(config, state, simulate=True, opcua=endpoint)
        assert main(argv[3:]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"station run: OPC UA endpoint {endpoint}: its port is in use (is another `station "
        "run` serving it?): stop that process or give --opcua URL another port"
    )
    assert threading.active_count() == threads
    assert not journal_path(state).exists()
    _journal(state, "photo-studio")  # no lock left behind
