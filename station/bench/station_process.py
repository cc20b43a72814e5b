"""The station as the plant runs it, for `python -m station.bench.station`: `station run`
on devices served by another process (`station sim world` for the photo studio: PLC,
turntable, cameras, barcode and RFID readers on real ports, simulated people at its
OPC UA interface), measured against issue 18's targets (item 5).

- `exec_to_ready_s`: from exec to the `ready` line (READY=1 to systemd): imports, the
  journal, the station started, its devices connecting. Target 1.0 s. Beside it the
  CPU time the process had used then (`cpu_to_ready_s`), which other processes on the
  machine do not inflate.
- `exec_to_interface_s`: from exec to `interface_serving` (the OPC UA interface, which
  comes up after READY in its own process).
- PSS (`/proc/PID/smaps_rollup`, shared pages split between the processes sharing
  them) of the station's process and of its OPC UA server's process, 3 s after the
  interface serves (the people logged in, the devices linked). Target 90 MiB; the
  reference of the issue: Node-RED doing the PLC job alone, 96-115 MiB.
- `stop_s`: from SIGTERM to its exit (the server's process stopped first).

Each run starts `station run` again on the same state directory (its certificate
made by the first); the figures of every run are printed, with their median.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from station.commands.run import command_line
from station.simulation.ports import free_port

TARGET_PSS_MIB = 90.0
TARGET_READY_S = 1.0
REFERENCE_PSS_MIB = (96.0, 115.0)
"""Node-RED doing the PLC's job alone (issue 18, item 5)."""
SETTLE_S = 3.0
"""From the interface serving to the memory read: the people log in, the devices link."""


def pss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def cpu_s(pid: int) -> float:
    """The CPU time the process has used so far (user and system)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def _world(config: Path, folder: Path, endpoint: str) -> subprocess.Popen[str]:
    """`station sim world` for `config`, ready (its bench copy in folder/bench.yaml)."""
    world = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "sim", "world", "--config", str(config),
         "--opcua", endpoint, "--state-dir", str(folder / "sims"),
         "--bench-config", str(folder / "bench.yaml"), "--log-level", "error"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=folder,
    )  # fmt: skip
    assert world.stdout is not None
    for line in world.stdout:
        if "ready, bench config" in line:
            return world
    raise RuntimeError(f"station sim world ended before it was ready ({world.wait()})")


def _one_run(bench: Path, state: Path) -> dict[str, float]:
    began = time.monotonic()
    station = subprocess.Popen(
        command_line(bench, state),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen: dict[str, float] = {}
    serving = threading.Event()

    def read_log() -> None:
        assert station.stderr is not None
        for line in station.stderr:
            event = json.loads(line).get("event") if line.startswith("{") else None
            if event in ("ready", "interface_serving") and event not in seen:
                seen[event] = time.monotonic() - began
                if event == "ready":
                    seen["cpu"] = cpu_s(station.pid)
                else:
                    serving.set()

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        if not serving.wait(60):
            raise RuntimeError(f"station run: no interface_serving within 60 s ({seen})")
        time.sleep(SETTLE_S)
        (interface,) = _children(station.pid)
        memory = {"station": pss_mib(station.pid), "interface": pss_mib(interface)}
        stopping = time.monotonic()
        station.terminate()
        station.wait(timeout=30)
        stop_s = time.monotonic() - stopping
    finally:
        if station.poll() is None:
            station.kill()
            station.wait()
        reader.join(timeout=5)
        if station.stderr is not None:
            station.stderr.close()
    return {
        "exec_to_ready_s": seen["ready"],
        "cpu_to_ready_s": seen["cpu"],
        "exec_to_interface_s": seen["interface_serving"],
        "station_pss_mib": memory["station"],
        "interface_pss_mib": memory["interface"],
        "total_pss_mib": memory["station"] + memory["interface"],
        "stop_s": stop_s,
    }


def on_served_devices(config: Path, folder: Path, runs: int) -> dict[str, Any]:
    """The figures of the module docstring, `runs` times, against the targets."""
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/station"
    world = _world(config, folder, endpoint)
    try:
        each = [_one_run(folder / "bench.yaml", folder / "station") for _ in range(runs)]
    finally:
        world.terminate()
        world.wait(timeout=30)
        if world.stdout is not None:
            world.stdout.close()
    median = {key: round(statistics.median(r[key] for r in each), 3) for key in each[0]}
    return {
        "runs": [{key: round(value, 3) for key, value in r.items()} for r in each],
        "median": median,
        "ready": {
            "ours_s": median["exec_to_ready_s"],
            "cpu_s": median["cpu_to_ready_s"],
            "target_s": TARGET_READY_S,
            "within_target": median["exec_to_ready_s"] <= TARGET_READY_S,
        },
        "memory": {
            "station_mib": median["station_pss_mib"],
            "with_interface_mib": median["total_pss_mib"],
            "target_mib": TARGET_PSS_MIB,
            "reference_mib": list(REFERENCE_PSS_MIB),
            "station_within_target": median["station_pss_mib"] <= TARGET_PSS_MIB,
            "with_interface_within_target": median["total_pss_mib"] <= TARGET_PSS_MIB,
        },
    }
