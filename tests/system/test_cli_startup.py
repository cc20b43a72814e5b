"""`station` imports only the module of the command it runs: `station --help` starts
in tens of milliseconds, `station config check` pays for pydantic and nothing of
asyncua, textual or pymodbus."""

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
