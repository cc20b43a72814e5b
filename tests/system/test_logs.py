"""Every line of a station's log is structured, the libraries' lines included:
pymodbus and asyncua log through the standard library's `logging`, and their
records come out as JSON lines like ours when stderr is not a terminal."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

# A process that sets up logging (twice, as a reload might), makes pymodbus log
# by connecting to a port nobody listens on, logs an asyncua-like error with a
# traceback, and logs one line of its own.
PROGRAM = """
import asyncio, logging, socket
import structlog
from pymodbus.client import AsyncModbusTcpClient
from station import logs

logs.configure("info")
logs.configure("info")

async def connect_to_nobody():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.2, retries=0)
    assert not await client.connect()
    client.close()

asyncio.run(connect_to_nobody())
try:
    raise ConnectionError("server went away")
except ConnectionError:
    logging.getLogger("asyncua.client.ua_client").exception("session lost")
logging.getLogger("asyncua.server").info("endpoint opened")  # chatter: left out
structlog.get_logger("run").info("station started", station="photo-studio")
"""


def test_library_lines_are_json_lines_like_ours() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(r.get("logger"), r["level"]) for r in records] == [
        ("pymodbus.logging", "warning"),
        ("asyncua.client.ua_client", "error"),
        (None, "info"),
    ]
    modbus, opcua, ours = records
    assert modbus["event"].startswith("Failed to connect")
    assert opcua["event"] == "session lost"
    assert opcua["exception"].splitlines()[-1] == "ConnectionError: server went away"
    assert ours["station"] == "photo-studio"
    assert all(record["timestamp"].endswith("Z") for record in records)


def test_a_bench_simulator_logs_pymodbus_as_json(tmp_path: Path) -> None:
    """`station sim plc` fed a frame it cannot decode: pymodbus' warning is a JSON line."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    err_path = tmp_path / "stderr"
    config = Path(__file__).parent.parent.parent / "configs/stations/photo-studio.yaml"
    command = ["sim", "plc", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    with (
        err_path.open("w") as err,
        subprocess.Popen(
            [sys.executable, "-m", "station.cli", *command], stdout=subprocess.PIPE, stderr=err
        ) as simulator,
    ):
        try:
            assert simulator.stdout is not None
            assert simulator.stdout.readline().startswith(b"station sim plc")
            # the banner comes before the port is bound: connect once it listens
            deadline = time.monotonic() + 10
            while True:
                try:
                    link = socket.create_connection(("127.0.0.1", port), timeout=5)
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "the simulator never listened"
                    time.sleep(0.05)
            with link:
                link.sendall(b"\x00\x01\x00\x00\x00\x02\x01\x99garbage")
                while b"pymodbus" not in err_path.read_bytes():
                    assert time.monotonic() < deadline, "pymodbus logged nothing"
                    time.sleep(0.05)
        finally:
            simulator.terminate()
    records = [json.loads(line) for line in err_path.read_text().splitlines()]
    assert any(r.get("logger", "").startswith("pymodbus") for r in records), records
