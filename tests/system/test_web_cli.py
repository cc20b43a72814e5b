"""`station plant --http`'s bad input: one line on stderr, exit 2, nothing served."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from mqtt_broker import free_port


def plant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", "plant", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_http_arguments_are_one_line_and_exit_2(tmp_path: Path) -> None:
    broker = ("--broker", f"mqtt://127.0.0.1:{free_port()}", "--db", str(tmp_path / "p.db"))
    bad_line = tmp_path / "line.yaml"
    bad_line.write_text("kind: line\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cases = [
            (("--http", "localhost:http"), "expected HOST:PORT"),
            (("--http", f"127.0.0.1:{port}"), f"--http 127.0.0.1:{port}: "),
            (("--http", "0", "--stale-after", "0"), "must be above 0"),
            (("--http", "0", "--line-config", str(bad_line)), f"--line-config {bad_line}"),
        ]
        for args, message in cases:
            done = plant(*broker, *args)
            assert done.returncode == 2, (args, done.stderr)
            last = done.stderr.splitlines()[-1]
            assert last.startswith("station plant: ") and message in last, (args, done.stderr)
            assert "Traceback" not in done.stderr
