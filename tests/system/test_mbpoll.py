"""The simulators speak Modbus TCP to a client we did not write: mbpoll (Debian
package) reads the PLC simulator's inputs, writes one of its coils, and reads the
turntable drive's status registers."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest
from modbus_rig import plc_config, turntable_config

from simulators.plc import SimPlc
from simulators.turntable import SimTurntable

pytestmark = pytest.mark.skipif(
    shutil.which("mbpoll") is None, reason="mbpoll is not installed (Debian package mbpoll)"
)


async def mbpoll(port: int, *args: str) -> list[int]:
    """Run mbpoll once against 127.0.0.1:port (PDU addressing); the values it printed."""
    process = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-0", "-1", "-o", "2", "-p", str(port), *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(10):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return [int(value) for value in re.findall(r"^\[\d+\]:\s+(-?\d+)", out.decode(), re.M)]


async def test_mbpoll_reads_the_plc_inputs_and_writes_a_coil() -> None:
    config = plc_config()
    sim = SimPlc(config)
    await sim.start()
    try:
        sim.set_input("vehicle_present", 1)
        unit = str(config.device_id)
        inputs = await mbpoll(sim.port, "-a", unit, "-t", "1", "-r", "0", "-c", "7", "127.0.0.1")
        assert inputs == [sim.input(name) for name in config.inputs]
        assert inputs == [1, 0, 1, 1, 1, 1, 1]
        andon = str(config.outputs["andon"].address)
        await mbpoll(sim.port, "-a", unit, "-t", "0", "-r", andon, "127.0.0.1", "1")
        assert sim.output("andon") == 1
        assert [(w.name, w.value) for w in sim.writes] == [("andon", 1)]
        coils = await mbpoll(sim.port, "-a", unit, "-t", "0", "-r", "0", "-c", "8", "127.0.0.1")
        assert coils == [sim.output(name) for name in config.outputs]
    finally:
        await sim.stop()


async def test_mbpoll_reads_the_drive_status_registers() -> None:
    config = turntable_config()
    sim = SimTurntable(config, start_deg=123.4)
    await sim.start()
    try:
        status = str(config.registers.status)
        values = await mbpoll(
            sim.port, "-a", str(config.device_id), "-t", "4", "-r", status, "-c", "4", "127.0.0.1"
        )
        assert values == [0, 0, 0, 1234]  # stopped, no fault, 0 Hz, 123.4 degrees
    finally:
        await sim.stop()
