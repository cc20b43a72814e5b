"""`station sim DEVICE`: a simulator standalone, as a bench runs it (a real
subprocess, real TCP, SIGTERM as the clean stop), and how the device is chosen."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from modbus_rig import PHOTO_STUDIO, plc_config
from pymodbus.client import AsyncModbusTcpClient

from station.cli import main
from station.commands.sim import DeviceChoiceError, parse_listen, pick_device
from station.config.loader import load_station

REPO = Path(__file__).resolve().parent.parent.parent


async def start_sim(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    """`station sim ARGS` in a subprocess; the port it printed once listening."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "station.cli", "sim", *args, "--config", str(PHOTO_STUDIO),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(20):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, f"simulator ended before listening: {await process.stderr.read()!r}"
            if match := re.search(r"listening on [\d.]+:(\d+)", line):
                return process, int(match[1])


async def stop_sim(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        await process.communicate()
    assert process.returncode is not None
    return process.returncode


async def test_the_plc_simulator_serves_modbus_and_stops_on_sigterm(free_port: int) -> None:
    process, port = await start_sim("plc", "--listen", f"127.0.0.1:{free_port}")
    try:
        assert port == free_port
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        assert await client.connect()
        try:
            estop = plc_config().inputs["estop_ok"].address
            reply = await client.read_discrete_inputs(estop, count=1, device_id=1)
            assert not reply.isError() and reply.bits[0] is True
        finally:
            client.close()
    finally:
        code = await stop_sim(process)
    assert code == 0


async def test_the_turntable_simulator_picks_a_free_port_when_asked() -> None:
    process, port = await start_sim("turntable", "--listen", "127.0.0.1:0")
    try:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        assert await client.connect()
        client.close()
    finally:
        code = await stop_sim(process)
    assert code == 0


def test_a_modbus_simulator_refuses_a_pty(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "turntable", "--config", str(PHOTO_STUDIO), "--pty", "/tmp/tt"]) == 2
    assert "speaks Modbus TCP" in capsys.readouterr().err


def test_listen_must_be_host_and_port() -> None:
    assert parse_listen("0.0.0.0:5020") == ("0.0.0.0", 5020)
    assert parse_listen("[::1]:502") == ("::1", 502)
    with pytest.raises(Exception, match="HOST:PORT"):
        parse_listen("localhost")


def test_the_device_is_the_one_with_the_driver_or_the_one_named() -> None:
    station = load_station(PHOTO_STUDIO).model
    assert pick_device(station, "modbus_plc", None)[0] == "plc"
    two = station.model_copy(
        update={"devices": {**station.devices, "plc2": station.devices["plc"]}}
    )
    with pytest.raises(DeviceChoiceError, match=r"several modbus_plc devices.*plc, plc2.*--device"):
        pick_device(two, "modbus_plc", None)
    assert pick_device(two, "modbus_plc", "plc2")[0] == "plc2"
    with pytest.raises(DeviceChoiceError, match="'barcode' is a keyence_sr, not a modbus_plc"):
        pick_device(two, "modbus_plc", "barcode")
    with pytest.raises(DeviceChoiceError, match=r"no opcua device .*devices: plc \(modbus_plc\)"):
        pick_device(station, "opcua", None)
