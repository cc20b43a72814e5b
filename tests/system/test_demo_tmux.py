"""The demo as a person sees it: `station run --simulate --console` (what `make
demo` runs) in a real terminal under tmux shows the console with a vehicle
moving through its steps: state text and VIN on the captured pane."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_demo_shows_a_vehicle_moving_through_its_steps(
    tmp_path: Path, free_port: int, example_users: Path
) -> None:
    session = f"station-demo-{free_port}"
    command = shlex.join(
        [
            sys.executable,
            "-m",
            "station.cli",
            "run",
            "--config",
            str(ROOT / "configs/stations/photo-studio.yaml"),
            "--simulate",
            "--scenario",
            str(ROOT / "configs/scenarios/photo-demo.yaml"),
            "--users",
            str(example_users),
            "--state-dir",
            str(tmp_path / "demo"),
            "--console",
            "--opcua",
            f"opc.tcp://127.0.0.1:{free_port}/station",
        ]
    )
    tmux = ["tmux", "-L", session]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "50", command], check=True
    )
    seen: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(seen) < 4:
            pane = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", session],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "Execute" in pane:
                seen["state"] = "Execute"
            if match := re.search(r"VIN ([A-HJ-NPR-Z0-9]{17})", pane):
                seen["vin"] = match.group(1)
            if match := re.search(r"step (\d)/9", pane):
                steps = seen.get("steps", "")
                if match.group(1) not in steps:
                    seen["steps"] = steps + match.group(1)
                if len(seen["steps"]) >= 2:
                    seen["moving"] = "yes"
            time.sleep(0.2)
        assert seen.get("state") == "Execute", pane
        assert seen.get("vin") == "VF1RFB00X66123456", pane
        assert len(seen.get("steps", "")) >= 2, f"the step never changed: {pane}"
    finally:
        subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=False)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = subprocess.run([*tmux, "has-session", "-t", session], capture_output=True)
            if alive.returncode != 0:
                break
            time.sleep(0.1)
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
