"""`station run --simulate --console` in a terminal: closing the terminal (here `tmux
kill-session`) ends the console and the runtime, and frees the OPC UA port; without a
terminal (systemd), SIGHUP still re-reads the config (tests/system/test_run_command.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _until(condition: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not {condition} within {timeout} s")
        time.sleep(0.1)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_closing_the_terminal_ends_console_and_runtime(
    tmp_path: Path, free_port: int, example_users: Path
) -> None:
    session = f"station-hangup-{free_port}"
    pid_file = tmp_path / "pid"
    run = [
        sys.executable, "-m", "station.cli", "run",
        "--config", str(ROOT / "configs/stations/photo-studio.yaml"),
        "--simulate", "--users", str(example_users),
        "--state-dir", str(tmp_path / "state"), "--console",
        "--opcua", f"opc.tcp://127.0.0.1:{free_port}/station",
    ]  # fmt: skip
    command = f"echo $$ > {shlex.quote(str(pid_file))}; exec {shlex.join(run)}"
    tmux = ["tmux", "-L", session]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True
    )
    pid = None
    try:
        _until("listening", lambda: _listening(free_port), 60)
        pid = int(pid_file.read_text())
        subprocess.run([*tmux, "kill-session", "-t", session], check=True)
        _until("ended", lambda: not Path(f"/proc/{pid}").exists(), 30)
        _until("free", lambda: not _listening(free_port), 5)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
        if pid is not None and Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)  # the runtime left headless (the bug this tests)
