"""Debian's `mosquitto` as a child process on a free loopback port, for a run that needs
a broker of its own (`station line --plant`, the plant benchmark): anonymous, in memory,
no queue limit, TCP_NODELAY, `INFLIGHT` messages in flight towards each client (so the
collector gets its batches), errors and warnings logged to `<folder>/mosquitto.log`;
stopped (SIGTERM, then SIGKILL) on exit. No embedded Python broker: amqtt, the
embeddable one, speaks MQTT 3.1.1 only. `BrokerUnavailable` (one line) when mosquitto is
not installed or does not start."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from shutil import which

import structlog

from station.simulation.ports import free_port

log = structlog.get_logger("station.broker")

START_S = 10.0
POLL_S = 0.1
INFLIGHT = 500


class BrokerUnavailable(Exception):
    """No broker could be started; one line."""


def mosquitto() -> str | None:
    return which("mosquitto") or which("mosquitto", path="/usr/sbin")


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _write_conf(folder: Path, port: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "mosquitto.conf"
    settings = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        f"max_inflight_messages {INFLIGHT}",
        "max_queued_messages 0",
        # without it a PUBACK waits on Nagle and the peer's delayed ACK: 40 ms a publish
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    conf.write_text("\n".join(settings) + "\n")
    return conf


@contextlib.asynccontextmanager
async def local_broker(folder: Path) -> AsyncIterator[str]:
    """Mosquitto as a child process on a free loopback port (its files in `folder`);
    its URL."""
    binary = mosquitto()
    if binary is None:
        raise BrokerUnavailable("Debian's mosquitto is not installed")
    port = free_port()
    conf = await asyncio.to_thread(_write_conf, folder, port)
    with (folder / "mosquitto.log").open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            binary, "-c", str(conf), stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_S
        while not await asyncio.to_thread(_accepting, port):
            if process.returncode is not None or time.monotonic() > deadline:
                raise BrokerUnavailable(f"mosquitto did not start on port {port}")
            await asyncio.sleep(POLL_S)
        log.info("broker_started", port=port, pid=process.pid)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(START_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
