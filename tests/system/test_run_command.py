"""`station run` as systemd runs it: READY=1 once the devices are up, WATCHDOG=1
from the main loop, SIGHUP re-reads the config (a bad one is refused and the
running one kept), SIGTERM stops cleanly with exit 0, JSON-line logs when not
on a terminal, exit 2 with located errors for a bad config."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.commands.run import command_line
from station.journal import Event, JournalError, JournalReader

CONFIG = Path(__file__).parent.parent / "stations" / "checklist-only.yaml"
LINE = (Path(__file__).parent.parent.parent / "configs" / "lines" / "line1.yaml").resolve()


def _station_file(path: Path, old: str = "", new: str = "") -> Path:
    text = CONFIG.read_text().replace("../../configs/lines/line1.yaml", str(LINE))
    path.write_text(text.replace(old, new) if old else text)
    return path


def _journal_event(state: Path, kind: str, timeout: float = 20.0) -> Event:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with JournalReader.open(state / "journal.sqlite3") as reader:
                event = reader.last(kind)
        except JournalError:
            event = None
        if event is not None:
            return event
        time.sleep(0.02)
    pytest.fail(f"no {kind} event within {timeout} s")


def _under_systemd(
    tmp_path: Path, config: Path, **environment: str
) -> tuple[socket.socket, subprocess.Popen[str]]:
    """`station run` of `config` (state in tmp_path/state) with a notify socket, as
    systemd starts it: the socket (20 s timeout) and the process (stderr piped)."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), **environment}
    process = subprocess.Popen(
        command_line(config, tmp_path / "state", opcua="off"),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    return notify, process


@contextlib.contextmanager
def _stopped(process: subprocess.Popen[str]) -> Iterator[None]:
    """SIGTERM to `process` after the body, which must end it with exit 0 within 20 s;
    killed if the body or that failed."""
    try:
        yield
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_systemd_notify_sighup_and_sigterm(tmp_path: Path) -> None:
    config = _station_file(tmp_path / "station.yaml")
    state = tmp_path / "state"
    notify, process = _under_systemd(tmp_path, config, WATCHDOG_USEC="200000")
    with notify, _stopped(process):
        messages = [notify.recv(64).decode()]
        messages.append(notify.recv(64).decode())
        assert messages[0] == "READY=1"
        assert messages[1] == "WATCHDOG=1"

        _station_file(config, "operation: diagnosis", "operation: diagnosiss")
        process.send_signal(signal.SIGHUP)
        rejected = _journal_event(state, "config_rejected")
        assert any("no operation 'diagnosiss'" in e for e in rejected.data["errors"])

        _station_file(config, "road test done]", "road test done, tyres checked]")
        process.send_signal(signal.SIGHUP)
        swapped = _journal_event(state, "config_swapped")
        assert swapped.data["old"] == rejected.data["running"] != swapped.data["new"]
    assert process.stderr is not None
    lines = process.stderr.read().splitlines()
    process.stderr.close()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and len(records) == len(lines), "every log line is a JSON object"
    assert any(r.get("event") == "ready" for r in records)


def test_bad_config_exits_2_with_every_error_located(tmp_path: Path) -> None:
    config = _station_file(
        tmp_path / "bad.yaml", "road test done]", "road test done]\n    role: boss"
    )
    result = subprocess.run(
        command_line(config, tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{config}:10: cycle[0].role: must be 'operator', 'inspector' or 'supervisor' (got 'boss')"
    )


def test_ready_does_not_wait_for_devices_that_are_down(tmp_path: Path) -> None:
    """A station whose devices are off is served and says so (link alarms): READY=1 goes to
    systemd at once, not after a connect timeout, and the ready line names what is down."""
    config = tmp_path / "station.yaml"
    station = (Path(__file__).parent.parent / "stations" / "photo-quick.yaml").read_text()
    config.write_text(
        station.replace("../../configs/lines/line1.yaml", str(LINE)).replace(
            ".line1.plant.local",
            ".invalid",  # no such host: every link stays down
        )
    )
    notify, process = _under_systemd(tmp_path, config)
    with notify, _stopped(process):
        assert notify.recv(64).decode() == "READY=1"
    assert process.stderr is not None
    records = [json.loads(line) for line in process.stderr.read().splitlines() if line]
    process.stderr.close()
    assert not [r for r in records if r.get("event") == "devices_not_connected"]
    (ready,) = [r for r in records if r.get("event") == "ready"]
    assert {"plc", "turntable"} <= set(ready["devices_down"])


def test_sigterm_before_the_interface_serves_stops_at_once(tmp_path: Path, free_port: int) -> None:
    """READY comes before the OPC UA interface serves: a stop in between ends the
    server's process where it is (it has nothing to close) and exits 0."""
    config = _station_file(tmp_path / "station.yaml")
    argv = command_line(
        config, tmp_path / "state", simulate=True, opcua=f"opc.tcp://127.0.0.1:{free_port}/x"
    )
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    with _stopped(process):
        assert process.stderr is not None
        for line in process.stderr:
            if '"event": "ready"' in line:
                break
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as children:
            (server,) = [int(pid) for pid in children.read().split()]
    assert process.stderr is not None
    rest = process.stderr.read()
    process.stderr.close()
    assert not Path(f"/proc/{server}").exists(), "the server's process outlived the station"
    assert "Traceback" not in rest
