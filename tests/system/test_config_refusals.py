"""Files that are not what a command expects, or that would cost it dearly, are
refused by the `station` command in one located line each and exit 2: a station
file given as a scenario or users file, an empty users file, a mapping without a
`kind:`, a YAML alias bomb, a file of megabytes. Run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from station.config.loader import MAX_ALIAS_VALUES, MAX_FILE_BYTES

ROOT = Path(__file__).parent.parent.parent
PHOTO_STUDIO = ROOT / "configs/stations/photo-studio.yaml"
LINE1 = ROOT / "configs/lines/line1.yaml"
USERS_FILE = "a users file (a mapping with the keys `users:`, `min_password_length:`)"
SCENARIO_FILE = "a scenario file (a mapping with the keys `vehicles:`, `misroutes:`, `takt_s:`)"


def _station(*args: str, stdin: str = "", timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of a refusal (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("given", "kind"), [(PHOTO_STUDIO, "station"), (LINE1, "line")], ids=["station", "line"]
)
def test_a_plant_file_as_users_file_is_named_for_what_it_is(given: Path, kind: str) -> None:
    line = _refused(
        _station("user", "add", "bob", "--role", "operator", "--file", str(given), stdin="pw\n")
    )
    assert line.startswith(f"{given}:")
    assert line.endswith(f": <file>: a {kind} file (kind: {kind}), not {USERS_FILE}")
    assert not given.with_name(f".{given.name}.lock").exists(), "a refusal leaves nothing"


@pytest.mark.parametrize(
    ("option", "expected"), [("--scenario", SCENARIO_FILE), ("--users", USERS_FILE)]
)
def test_a_station_file_as_scenario_or_users_of_run_is_refused(
    tmp_path: Path, option: str, expected: str
) -> None:
    """The users file is read once the simulators are up: their log lines come first."""
    station = str(PHOTO_STUDIO)
    result = _station(
        "run", "--config", station, "--simulate", option, station, "--state-dir", str(tmp_path)
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"{station}:9: <file>: a station file (kind: station), not {expected}"
    )


def test_a_mapping_of_other_keys_is_not_a_scenario(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("# not a scenario\nfoo: 1\nbar: 2\n")
    result = _station("run", "--config", str(PHOTO_STUDIO), "--simulate", "--scenario", str(other))
    assert _refused(result) == f"{other}:2: <file>: keys `foo:`, `bar:`, not {SCENARIO_FILE}"


@pytest.mark.parametrize(("content", "found"), [("", "empty"), ("- alice\n", "a list")])
def test_an_empty_users_file_says_what_a_users_file_is(
    tmp_path: Path, content: str, found: str
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(content)
    line = _refused(
        _station("user", "add", "bob", "--role", "operator", "--file", str(users), stdin="pw\n")
    )
    assert line == f"{users}:1: <file>: {found}, not {USERS_FILE}"


def test_a_mapping_without_kind_lists_the_kinds(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    line = _refused(_station("config", "check", str(empty)))
    assert line == f"{empty}:1: kind: missing required key 'kind' (one of 'line', 'station')"


def test_a_device_without_driver_lists_the_drivers(tmp_path: Path) -> None:
    station = tmp_path / "photo-studio.yaml"
    text = PHOTO_STUDIO.read_text().replace("driver: modbus_plc", "", 1)
    station.write_text(text.replace("../lines/", f"{LINE1.parent}/"))
    result = _station("config", "check", str(station))
    assert result.returncode == 2
    missing = [line for line in result.stderr.splitlines() if "'driver'" in line]
    assert len(missing) == 1
    assert missing[0].endswith(
        "devices.plc.driver: missing required key 'driver' (one of 'modbus_plc',"
        " 'modbus_turntable', 'keyence_sr', 'balluff_bis', 'studio_cameras',"
        " 'opcua', 'modbus_battery_tester')"
    )


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Nine levels of nine aliases: 443 bytes that expand to 387 million values."""
    lines = ["kind: line", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    line = _refused(_station("config", "check", str(bomb), timeout=15))
    assert line == (
        f"{bomb}:6: a4[0]: YAML aliases expand to more than {MAX_ALIAS_VALUES} values: refused"
    )


def test_a_merge_key_from_an_anchor_is_not_a_crash(tmp_path: Path) -> None:
    merged = tmp_path / "merged.yaml"
    merged.write_text("kind: line\nx: &x {a: 1}\ny:\n  <<: *x\n  b: 2\n")
    result = _station("config", "check", str(merged))
    assert result.returncode == 2
    assert f"{merged}:3: y: unknown key 'y'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_of_megabytes_is_not_parsed(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("kind: line\n" + "#" * MAX_FILE_BYTES)
    assert (
        _refused(_station("config", "check", str(big)))
        == f"{big}:1: <file>: larger than 2 MiB: refused"
    )
