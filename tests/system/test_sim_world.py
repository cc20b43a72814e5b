"""`station sim world`: a hardware-in-the-loop bench on one machine. The world (every
device of the photo studio simulated on real ports) and an unchanged `station run
--config OUT.yaml` (no --simulate) run in two processes; the world sees and commands
the station over its OPC UA interface only, and the bench engineer drives the world
over its control socket (and stdin).

The station file is the photo studio's: without --simulate the controller takes its
times as written, and --fast shrinks only the simulators' (the table turns its
rotation twenty times faster; the camera system fires at its own encoder crossings)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from station.commands.run import command_line

ROOT = Path(__file__).resolve().parent.parent.parent
PHOTO_STUDIO = ROOT / "configs/stations/photo-studio.yaml"
DEMO = ROOT / "configs/scenarios/photo-demo.yaml"
EXPECTED = {
    "VF1RFB00X66123456": "passed",
    "WVWZZZ1JZXW000001": "passed",  # three no-reads: identified by its tag
    "1M8GDM9AXKP042788": "passed",
    "VF3LCYHZPHS000123": "passed",  # a turntable stall: aborted, cleared, session retaken
    "WBA8E9C50GK000777": "held",  # came back from quality control: turning back
}
Process = asyncio.subprocess.Process


def quick_photo_studio(folder: Path) -> Path:
    """The photo studio's station file, its line found from anywhere."""
    yaml = YAML(typ="rt")
    document = yaml.load(PHOTO_STUDIO.read_text())
    document["line"] = str(ROOT / "configs/lines/line1.yaml")
    path = folder / "photo-studio.yaml"
    with path.open("w") as stream:
        yaml.dump(document, stream)
    return path


async def stop(process: Process, timeout: float = 20) -> int:
    """SIGTERM, then kill after `timeout`; the exit code (teardown: nothing left running)."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():  # noqa: ASYNC110 (the condition lives in another process)
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"not within {timeout} s: {what}")


async def control(path: Path, line: str | bytes) -> dict[str, Any]:
    """One command on the world's control socket, its JSON answer."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        data = line if isinstance(line, bytes) else line.encode()
        writer.write(data + b"\n")
        await writer.drain()
        async with asyncio.timeout(10):
            answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()
        await writer.wait_closed()


@dataclass
class Bench:
    world: Process
    out: Path
    """The bench copy of the station file."""
    socket: Path
    opcua: str


@pytest.fixture
async def bench(tmp_path: Path, free_port: int) -> AsyncIterator[Callable[..., Awaitable[Bench]]]:
    """Starts `station sim world` (once); stops it in teardown."""
    started: list[Process] = []

    async def start(*extra: str, stdin: int = asyncio.subprocess.DEVNULL) -> Bench:
        out, sock = tmp_path / "bench.yaml", tmp_path / "world.sock"
        opcua = f"opc.tcp://127.0.0.1:{free_port}/station"
        world = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "station.cli", "sim", "world",
            "--config", str(quick_photo_studio(tmp_path)), "--fast",
            "--opcua", opcua, "--control", str(sock), "--bench-config", str(out),
            "--state-dir", str(tmp_path / "world"), *extra,
            cwd=tmp_path, stdin=stdin, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        started.append(world)
        assert world.stdout is not None
        async with asyncio.timeout(30):
            while b"ready, bench config" not in (line := await world.stdout.readline()):
                assert line, "station sim world ended before it was ready"
        return Bench(world, out, sock, opcua)

    try:
        yield start
    finally:
        for process in started:
            await stop(process)


@pytest.fixture
async def station_run(tmp_path: Path) -> AsyncIterator[Callable[[Path], Awaitable[Process]]]:
    """Starts an unchanged `station run --config OUT.yaml`; stops it in teardown."""
    started: list[Process] = []

    async def start(config: Path) -> Process:
        argv = command_line(config, tmp_path / "station")
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            await stop(process)


def journal(state_dir: Path) -> list[dict[str, Any]]:
    import subprocess

    shown = subprocess.run(
        [sys.executable, "-m", "station.cli", "journal", "show", "--json", "--limit", "10000",
         "--state-dir", str(state_dir)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    events: list[dict[str, Any]] = json.loads(shown.stdout)["events"]
    return events


async def test_the_demo_runs_on_a_bench_against_an_unchanged_station_with_a_fault_injected(
    bench: Callable[..., Awaitable[Bench]],
    station_run: Callable[[Path], Awaitable[Process]],
    tmp_path: Path,
) -> None:
    world = await bench("--scenario", str(DEMO))
    bench_copy = YAML(typ="safe").load(world.out.read_text())
    assert bench_copy["interface"]["endpoint"] == world.opcua
    assert bench_copy["devices"]["barcode"]["endpoint"].startswith("tcp://127.0.0.1:")
    station = await station_run(world.out)

    async def first_vehicle_done() -> bool:
        return bool((await control(world.socket, "state"))["results"])

    await until(first_vehicle_done, 90, "the first vehicle through the station")
    injected = await control(world.socket, "fault plc_link_drop seconds=1")
    assert injected["ok"], injected
    assert injected["injected"]["kind"] == "plc_link_drop"

    async def scenario_done() -> bool:
        return bool((await control(world.socket, "state"))["done"])

    await until(scenario_done, 180, "every vehicle of the demo through the station")
    state = await control(world.socket, "state")
    assert state["results"] == EXPECTED
    assert state["left"] == []
    assert await stop(station) == 0
    assert await stop(world.world) == 0

    verified = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "station.cli", "journal", "verify",
        "--state-dir", str(tmp_path / "station"), stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await verified.wait() == 0
    events = journal(tmp_path / "station")
    released = {e["vin"] for e in events if e["kind"] == "released"}
    assert released == {vin for vin, result in EXPECTED.items() if result == "passed"}
    ended = {e["vin"]: e["result"] for e in events if e["kind"] == "cycle_ended"}
    assert ended == EXPECTED
    assert any(e["kind"] == "violation" and e["result"] == "turning_back" for e in events)
    assert any(e["kind"] == "noread" and e["vin"] in (None, "WVWZZZ1JZXW000001") for e in events)
    # the fault injected from the control socket: the PLC's link lost, then back
    assert any(e["kind"] == "alarm_raised" and e["result"] == "link:plc" for e in events)
    assert any(e["kind"] == "alarm_cleared" and e["result"] == "link:plc" for e in events)


async def test_vehicles_held_back_come_one_at_a_time_on_next(
    bench: Callable[..., Awaitable[Bench]],
    station_run: Callable[[Path], Awaitable[Process]],
) -> None:
    world = await bench("--scenario", str(DEMO), "--hold")
    await station_run(world.out)

    async def connected_and_waiting() -> bool:
        state = await control(world.socket, "state")
        return bool(state["connected"] and state["waiting"] == "VF1RFB00X66123456")

    await until(connected_and_waiting, 60, "the station connected, the first vehicle waiting")
    assert (await control(world.socket, "state"))["results"] == {}
    answer = await control(world.socket, "next")
    assert answer["ok"] and answer["held_back"]

    async def first_done_second_waiting() -> bool:
        state = await control(world.socket, "state")
        return bool(state["results"] and state["waiting"] == "WVWZZZ1JZXW000001")

    await until(first_done_second_waiting, 90, "the first vehicle through, the second held")
    assert (await control(world.socket, "release"))["held_back"] is False


async def test_the_control_surface_answers_bad_commands_and_the_world_goes_on(
    bench: Callable[..., Awaitable[Bench]],
) -> None:
    world = await bench("--scenario", str(DEMO), stdin=asyncio.subprocess.PIPE)
    unknown = await control(world.socket, "explode now" + "x" * 200)
    assert unknown["ok"] is False
    assert "unknown command 'explode'" in unknown["error"]
    long = await control(world.socket, b"state " + b"y" * 100_000)
    assert long == {"ok": False, "error": "line longer than 256 bytes: ignored"}
    for bad, said in [
        ("fault", "fault needs a KIND"),
        ("fault meteor", "kind"),
        ("fault plc_link_drop seconds=forever", "seconds"),
        ("fault plc_link_drop seconds", "expected KEY=VALUE"),
        ("hold everything", "hold takes no argument"),
        ("\xff\xfe", "unknown command"),
    ]:
        answer = await control(world.socket, bad)
        assert answer["ok"] is False and said in answer["error"], (bad, answer)
        assert len(answer["error"]) < 400
    assert set((await control(world.socket, "help"))["commands"]) >= {"next", "hold", "fault"}
    # the same commands on stdin, answered on stdout
    assert world.world.stdin is not None and world.world.stdout is not None
    world.world.stdin.write(b"bogus\nstate\n")
    await world.world.stdin.drain()
    async with asyncio.timeout(10):
        first = json.loads(await world.world.stdout.readline())
        second = json.loads(await world.world.stdout.readline())
    assert first["ok"] is False and "unknown command 'bogus'" in first["error"]
    assert second["ok"] is True and second["station"] == "photo-studio"
    world.world.stdin.close()
    assert world.world.returncode is None  # the world goes on


def run_world(*args: str, cwd: Path) -> tuple[int, str]:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "station.cli", "sim", "world", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--config", "missing.yaml"], "missing.yaml:1: <file>: cannot read"),
        (
            ["--config", str(PHOTO_STUDIO), "--scenario", "nowhere.yaml"],
            "nowhere.yaml:1: <file>: cannot read",
        ),
        (
            ["--config", str(PHOTO_STUDIO), "--control", "/nonexistent/dir/world.sock"],
            "--control /nonexistent/dir/world.sock: no directory /nonexistent/dir",
        ),
        (["--config", str(PHOTO_STUDIO), "--port", "camera=5020"], "no device 'camera'"),
        (["--config", str(PHOTO_STUDIO), "--port", "plc=http"], "expected DEVICE=PORT"),
        (["--config", str(PHOTO_STUDIO), "--bind", "192.0.2.1"], "not an address of this"),
        (
            ["--config", str(PHOTO_STUDIO), "--bench-config", "/nonexistent/out.yaml"],
            "--bench-config /nonexistent/out.yaml: no directory",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line(args: list[str], said: str, tmp_path: Path) -> None:
    code, stderr = run_world(*args, "--state-dir", str(tmp_path / "s"), cwd=tmp_path)
    assert code == 2, stderr
    assert said in stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert "Traceback" not in stderr


def test_a_busy_port_and_a_served_control_socket_are_refused(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        busy = stack.enter_context(socket.socket())
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, stderr = run_world(
            "--config", str(PHOTO_STUDIO), "--port", f"plc={port}", cwd=tmp_path
        )
        assert code == 2 and f"--port plc={port}: the port is already in use" in stderr, stderr
        assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr
        served = stack.enter_context(socket.socket(socket.AF_UNIX))
        served.bind(str(tmp_path / "taken.sock"))
        served.listen()
        code, stderr = run_world(
            "--config", str(PHOTO_STUDIO), "--control", str(tmp_path / "taken.sock"), cwd=tmp_path
        )
        assert code == 2 and "another process serves it" in stderr, stderr
        (tmp_path / "file").write_text("")
        code, stderr = run_world(
            "--config", str(PHOTO_STUDIO), "--control", str(tmp_path / "file"), cwd=tmp_path
        )
        assert code == 2 and "exists and is not a socket" in stderr, stderr
