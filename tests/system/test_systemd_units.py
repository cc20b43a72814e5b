"""Every unit of systemd/ is valid and sandboxed: `systemd-analyze verify` has
nothing to say about it and `systemd-analyze security` scores it at most 2.0 (OK).

The units name the installed command, /opt/station/.venv/bin/station, which does
not exist on a development machine; verify checks that ExecStart's binary exists
and is executable, so each unit is checked as a copy naming this venv's
`station` instead (nothing else changes)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).parent.parent.parent / "systemd").glob("*.service"))
INSTALLED = "/opt/station/.venv/bin/station"
HERE = Path(sys.executable).with_name("station")
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd)",
)


@pytest.fixture(params=UNITS, ids=lambda p: p.name)
def unit(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    source: Path = request.param
    text = source.read_text()
    assert INSTALLED in text, f"{source.name} does not run {INSTALLED}"
    copy = tmp_path / source.name
    copy.write_text(text.replace(INSTALLED, str(HERE)))
    return copy


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_there_are_the_four_units() -> None:
    assert [p.name for p in UNITS] == [
        "station-console@.service",
        "station-plant.service",
        "station-sim@.service",
        "station@.service",
    ]


def test_unit_verifies_without_a_word(unit: Path) -> None:
    assert HERE.is_file()
    result = _analyze("verify", str(unit))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unit_is_sandboxed(unit: Path) -> None:
    result = _analyze("security", "--offline=true", str(unit))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # an unknown or misspelt directive is warned about here
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found is not None, result.stdout
    failing = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert float(found[1]) <= MAX_EXPOSURE, "\n".join(failing)
