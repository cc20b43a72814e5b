"""The inspection simulator is a real OPC UA server: clients we did not write
use it, and it runs standalone as `station sim inspection` does.

- node-opcua (an independent implementation, JavaScript) subscribes to the
  verdict, writes a VIN and reads the verdict. It is installed outside the
  repository, once:
      npm install --prefix ~/.cache/station-ci/node-opcua --no-audit --no-fund node-opcua-client@2
  (or point NODE_OPCUA_DIR at another prefix); without it the test skips.
- asyncua's command-line `uaread`, run as a separate process, reads the
  verdict that our driver asked for over an unsecured session.
- `station sim inspection` on the plant's station file serves a secured
  session until SIGTERM and exits cleanly.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal.config import LinkSettings, OpcUaDeviceConfig, OpcUaSecurity
from hal.opcua import certs
from hal.opcua.client import OpcUaClientDevice
from simulators.inspection import APPLICATION_URI, Inspection, SimInspection, run_standalone
from station.config.loader import load_station

NODES = {
    "vin": "ns=2;s=Inspection.Vin",
    "verdict": "ns=2;s=Inspection.Verdict",
    "status": "ns=2;s=Inspection.Status",
}
CONFIG = OpcUaDeviceConfig(
    driver="opcua",
    url="opc.tcp://127.0.0.1:4840/inspection",
    security=OpcUaSecurity(policy="None", mode="None"),
    link=LinkSettings(connect_timeout_s=2.0, request_timeout_s=1.0, backoff_initial_s=0.05),
    nodes=NODES,
    publishing_interval_ms=50,
)
NODE_OPCUA = Path(os.environ.get("NODE_OPCUA_DIR", Path.home() / ".cache/station-ci/node-opcua"))
CLIENT_JS = Path(__file__).with_name("inspection_interop_client.js")
CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
PROCESS_S = 30.0
"""Bound on a child process's run (start-up of node or Python included)."""


@pytest.fixture(scope="module")
def sim() -> Iterator[SimInspection]:
    simulator = SimInspection(CONFIG, verdict_delay_s=0.05)
    asyncio.run(simulator.start())
    try:
        yield simulator
    finally:
        asyncio.run(simulator.stop())


async def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a child process to its end (killed if it overruns); exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        async with asyncio.timeout(PROCESS_S):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_node_opcua_subscribes_writes_and_reads_the_verdict(sim: SimInspection) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_OPCUA / "node_modules" / "node-opcua-client").is_dir():
        pytest.skip(
            f"node-opcua not found under {NODE_OPCUA}: npm install --prefix {NODE_OPCUA} "
            "--no-audit --no-fund node-opcua-client@2 (or set NODE_OPCUA_DIR)"
        )
    vin = "VF1INTEROP0000001"
    sim.plan(vin, ["fail"])
    # node-opcua keeps its own client certificate under XDG_CONFIG_HOME: next to
    # the package, made once, not in the user's home.
    env = dict(
        os.environ,
        NODE_PATH=str(NODE_OPCUA / "node_modules"),
        XDG_CONFIG_HOME=str(NODE_OPCUA / "config"),
    )
    url = sim.endpoint_update()["url"]
    code, out, err = await run(
        node, str(CLIENT_JS), url, NODES["vin"], NODES["verdict"], vin, "10000", env=env
    )
    assert code == 0, err
    result = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    assert result["write"] == "Good"
    assert result["changes"][-1] == result["read"] == f"{vin}:fail"
    assert sim.inspections[-1] == Inspection(vin, None)


async def test_uaread_reads_the_verdict_our_driver_asked_for(sim: SimInspection) -> None:
    uaread = Path(sys.executable).with_name("uaread")
    if not uaread.is_file():
        pytest.skip(f"asyncua's uaread not found at {uaread}")
    device = OpcUaClientDevice("inspection", CONFIG.model_copy(update=sim.endpoint_update()))
    vin = "VF1INTEROP0000002"
    try:
        await device.start()
        await device.link.wait_up(PROCESS_S)
        verdicts = device.changes("verdict")
        await device.write("vin", vin)
        async with asyncio.timeout(PROCESS_S):
            async for value in verdicts:
                if value == f"{vin}:pass":
                    break
    finally:
        await device.stop()
    code, out, err = await run(
        str(uaread), "-u", sim.endpoint_update()["url"], "-n", NODES["verdict"]
    )
    assert code == 0, err
    assert out.strip() == f"{vin}:pass"


async def test_station_sim_inspection_serves_until_sigterm(tmp_path: Path) -> None:
    """`station sim inspection` on the plant's technical-control station file, as a
    bench runs it: a SignAndEncrypt session with the file's user, a verdict, and a
    clean exit on SIGTERM."""
    station = shutil.which("station", path=str(Path(sys.executable).parent))
    if station is None or importlib.util.find_spec("station.commands.sim") is None:
        pytest.skip("the `station sim` command is not in this build")
    # The plant's file, with the secrets it names put in this test's folder.
    shutil.copytree(CONFIGS / "lines", tmp_path / "lines")
    (tmp_path / "stations").mkdir()
    source = (CONFIGS / "stations" / "technical-control.yaml").read_text()
    password_file = "/etc/station/pki/inspection-password"
    assert password_file in source
    (tmp_path / "password").write_text("bench\n")
    station_file = tmp_path / "stations" / "technical-control.yaml"
    station_file.write_text(source.replace(password_file, str(tmp_path / "password")))
    inspection = load_station(station_file).model.devices["inspection"]
    assert isinstance(inspection, OpcUaDeviceConfig)
    # The simulator keeps its certificate under XDG_STATE_HOME: made here
    # beforehand, so that this test can trust it.
    server = certs.write_certificate(
        tmp_path / "state" / "station" / "sim-inspection", "server", APPLICATION_URI
    )
    client = certs.write_certificate(tmp_path / "client", "client", "urn:station:test:bench")
    (tmp_path / "trusted").mkdir()
    shutil.copy(server.certificate, tmp_path / "trusted")

    process = await asyncio.create_subprocess_exec(
        station,
        "sim",
        "inspection",
        "--config",
        str(station_file),
        "--listen",
        "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state")),
    )
    assert process.stdout is not None
    device: OpcUaClientDevice | None = None
    try:
        async with asyncio.timeout(PROCESS_S):
            while "opc.tcp://" not in (line := (await process.stdout.readline()).decode()):
                assert line, "station sim inspection ended before serving"
        url = line[line.index("opc.tcp://") :].split()[0]
        security = inspection.security.model_copy(
            update={
                "certificate": str(client.certificate),
                "private_key": str(client.private_key),
                "trust_dir": str(tmp_path / "trusted"),
            }
        )
        config = inspection.model_copy(update={"url": url, "security": security})
        device = OpcUaClientDevice("inspection", config)
        await device.start()
        await device.link.wait_up(PROCESS_S)
        verdicts = device.changes("verdict")
        await device.write("vin", "VF1BENCH000000001")
        async with asyncio.timeout(PROCESS_S):
            assert await anext(verdicts) == "VF1BENCH000000001:pass"
        await device.stop()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(PROCESS_S):
            _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
    finally:
        if device is not None:
            await device.stop()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_standalone_refuses_a_pty() -> None:
    with pytest.raises(ValueError, match="serves OPC UA over TCP: give --listen"):
        await run_standalone(CONFIG, None, "/tmp/ttyINSPECTION")
