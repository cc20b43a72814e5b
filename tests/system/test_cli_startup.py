"""`station` imports only the module of the command it runs: `station --help` starts
in tens of milliseconds, `station config check` pays for pydantic and nothing of
asyncua, textual or pymodbus, and `station run` on real devices loads no simulator and
no asyncua (its OPC UA server's process does the serving)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent

# Runs the CLI in a fresh interpreter, then prints the modules it imported (stderr).
PROBE = """
import sys
from station.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def _modules(*argv: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    return set(result.stderr.splitlines()[-1].split())


def test_help_imports_no_command() -> None:
    loaded = _modules("--help")
    assert "station.cli" in loaded
    assert not {m for m in loaded if m.startswith("station.commands.")}
    assert not {"pydantic", "ruamel", "asyncio"} & loaded


def test_a_command_imports_its_module_only() -> None:
    loaded = _modules("config", "check", "configs/lines/line1.yaml")
    assert {m for m in loaded if m.startswith("station.commands.")} == {
        "station.commands.config_check"
    }
    assert not {"asyncua", "textual", "pymodbus", "station.interface"} & loaded


def test_a_station_on_real_devices_loads_neither_asyncua_nor_the_simulators() -> None:
    """What `station run` imports to run a station without OPC UA devices and to serve
    it; asyncua is the server's process's, the simulators `--simulate`'s."""
    code = (
        "import sys, station.commands.run, station.assembly, station.interface.server;"
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    heavy = {"asyncua", "cryptography", "simulators", "textual", "station.simulation"}
    assert not {m for m in loaded if m.split(".")[0] in heavy or m.startswith(tuple(heavy))}
