"""The README runs as written: every command of its ```sh blocks is run here (in a
scratch folder that sees the repository's configs/, with this venv's `station` on
PATH), or listed in NOT_RUN with the reason. `station run` and the bench's `station
sim` commands are started, stopped (SIGTERM, exit 0) once they say they serve, the
OPC UA endpoint of `station run` and the port of `station sim --listen` moved to a
free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
README = ROOT / "README.md"

NOT_RUN = {
    "make demo": "binds the fixed port 4840 and the repository's .demo/: "
    "tests/system/test_demo_tmux.py runs its `station run --console` on a free port",
    "make test": "the whole suite, this test included",
    "make unit": "the unit tests: run by make test",
    "station console --user alice --password-file /etc/station/console-password": (
        "a station's own password file, on its terminal: "
        "tests/system/test_console_cli_bad_input.py runs --password-file"
    ),
    "make system": "the system tests, this one included",
    "station run --config /etc/station/stations/photo-studio.yaml": "real devices",
    "station console --endpoint opc.tcp://127.0.0.1:4840/station --user alice": (
        "interactive, on a terminal, against a running station: tests/system/test_demo_tmux.py"
    ),
    "station line --config configs/lines/line1.yaml --simulate --scenario "
    "configs/scenarios/line-acceptance.yaml --fast": "a minute of both cores: "
    "tests/system/test_line.py runs the acceptance scenario through the same command",
    "station line --config configs/lines/line1.yaml --simulate --vehicles 180 --seed 1 "
    "--fast --json": "3 to 4 minutes: the plant bench's line1 run (README, Figures)",
    "station line --config configs/lines/line1.yaml --simulate --plant --vehicles 30 --fast "
    "--json": "2.5 minutes of both cores: tests/system/test_line_plant.py runs it",
    "station line --config configs/lines/line1.yaml --simulate --plant --vehicles 30 --fast "
    "--http 127.0.0.1:8080": "a fixed port, and it serves until Ctrl-C: "
    "tests/system/test_line_plant.py runs it with --http 127.0.0.1:0 and a browser",
    "mbpoll -m tcp -a 1 -0 -t 1 -r 0 -c 7 -p 5020 127.0.0.1": (
        "reads the PLC simulator of the line above while it runs: tests/system/test_mbpoll.py"
    ),
}
READY_S = 60.0
"""Longest wait for `station run` or a `station sim` to say it serves."""
SERVING = re.compile(
    r'"event": "interface_serving"|listening on|serving opc|"event": "sim_ready"'
    r"|ready, bench config"
)
"""What `station run` (its JSON log: its OPC UA interface comes up after READY) and each
`station sim` print once they serve."""


def readme_commands() -> list[str]:
    """The commands of the README's ```sh blocks, continuation lines joined, comments
    and extra blanks dropped, in order."""
    blocks = re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.S | re.M)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    commands = (" ".join(re.sub(r"(^|\s)#.*", "", line).split()) for line in lines)
    return [command for command in commands if command]


def test_every_command_not_run_is_in_the_readme() -> None:
    assert set(NOT_RUN) <= set(readme_commands())


def test_the_readme_runs_as_written(tmp_path: Path, free_port: int) -> None:
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("STATE_DIRECTORY", None)
    ran = []
    for command in readme_commands():
        if command in NOT_RUN:
            continue
        if command.startswith("station run "):
            _run_until_ready(
                f"{command} --opcua opc.tcp://127.0.0.1:{free_port}/station", tmp_path, env
            )
        elif command.startswith("station sim "):
            listen = re.sub(r"(--listen \S+):\d+", rf"\1:{free_port}", command)
            _run_until_ready(listen, tmp_path, env)
        else:
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        ran.append(command)
    assert any(c.startswith("station journal show") for c in ran), ran  # after the run


def _run_until_ready(command: str, cwd: Path, env: dict[str, str]) -> None:
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    timer = threading.Timer(READY_S, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        ready = any(SERVING.search(line) for line in process.stdout)
        assert ready, f"{command}: not serving within {READY_S} s"
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)  # read on: a full pipe would block it
        assert process.returncode == 0, f"{command}\n{rest[-2000:]}"
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
