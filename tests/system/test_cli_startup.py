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
    loaded = _imported("station.commands.run", "station.assembly", "station.interface.server")
    heavy = ("asyncua", "cryptography", "simulators", "textual", "station.simulation", "rich")
    assert not {m for m in loaded if m.startswith(heavy)}


def test_the_opc_ua_server_s_process_loads_no_rich_and_no_config_models() -> None:
    """structlog would load rich and pygments (4 MiB) for tracebacks we format plainly;
    pydantic, the config models and the users file's reader (10 MiB) are the station's:
    the server's process gets the settings and the users the station checked."""
    loaded = _imported("station.interface.process")
    assert "asyncua" in loaded
    heavy = ("rich", "pygments", "textual", "pydantic", "ruamel", "station.config", "hal.config")
    assert not {m for m in loaded if m.startswith(heavy)}


def _imported(*modules: str) -> list[str]:
    """The modules a process of ours has loaded after importing `modules`, rich left out
    as `station run` and the server's process leave it out (`station.footprint`)."""
    code = (
        "import importlib, sys; from station.footprint import leave_out_rich; leave_out_rich();"
        f"[importlib.import_module(m) for m in {list(modules)!r}];"
        "print(' '.join(sorted(m for m, v in sys.modules.items() if v is not None)))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
