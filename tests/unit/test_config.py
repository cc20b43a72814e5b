"""The configuration surface: every plant file loads, every bad file is refused
with the exact `FILE:LINE: PATH: MESSAGE` lines it expects, and the JSON Schema
describes every field with its bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from station.cli import main
from station.config.loader import ConfigError, json_schema, load_any, load_station
from station.scenario import load_scenario

ROOT = Path(__file__).parent.parent.parent
BENCH = sorted((ROOT / "configs/bench").glob("*.yaml"))
GOOD = sorted(
    [
        *(ROOT / "configs/lines").glob("*.yaml"),
        *(ROOT / "configs/stations").rglob("*.yaml"),
        *BENCH,
    ]
)
SCENARIOS = sorted((ROOT / "configs/scenarios").glob("*.yaml"))
BAD = sorted((Path(__file__).parent.parent / "configs_bad").glob("*.yaml"))

# Errors that need names from elsewhere in the file (or from another file) are
# beyond JSON Schema: `station config check` is the authority for these.
CROSS_CHECKED = {
    "coil_value",
    "finding_rules",
    "found_attributes",
    "duplicate_address",
    "input_not_in_map",
    "operation_not_in_line",
    "output_not_in_map",
    "parallel_stations",
    "parallel_station_mismatch",
    "release_not_last",
    "station_mismatch",
    "steps_out_of_order",
    "unknown_attribute",
    "unknown_device",
    "wrong_device_kind",
    "opcua_security",
    "measure_node",
}
NOT_YAML = {"yaml_syntax", "duplicate_key"}


def _expected(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    prefix = "# expect: "
    return [f"{path}:{line.removeprefix(prefix)}" for line in lines if line.startswith(prefix)]


def _data(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def test_there_are_enough_bad_configs() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", GOOD, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_plant_file_loads(path: Path) -> None:
    loaded = load_any(path)
    assert loaded.content_hash.startswith("sha256:")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_scenario_loads(path: Path) -> None:
    assert load_scenario(path).vehicles


def test_every_yaml_file_under_configs_is_loaded_by_a_test() -> None:
    everything = set((ROOT / "configs").rglob("*.yaml"))
    users = set((ROOT / "configs").glob("users*.yaml"))  # loaded by the interface tests
    assert everything - users == set(GOOD) | set(SCENARIOS)


@pytest.mark.parametrize("path", BENCH, ids=lambda p: p.stem)
def test_a_bench_file_is_its_station_file_but_the_endpoints(path: Path) -> None:
    """configs/bench/X.yaml differs from configs/stations/X.yaml only where a bench
    does: the device endpoints, the users file, the inspection's scratch PKI."""
    bench = load_station(path).model.model_dump()
    plant = load_station(ROOT / "configs/stations" / path.name).model.model_dump()
    bench["interface"].pop("users_file"), plant["interface"].pop("users_file")
    for name, device in plant["devices"].items():
        for key in ("host", "port", "endpoint", "url", "security"):
            if key in device:
                device[key] = bench["devices"][name][key]
    assert bench == plant


def test_every_station_of_the_main_line_has_a_file() -> None:
    line1 = {p.stem: load_station(p) for p in (ROOT / "configs/stations").glob("*.yaml")}
    route = next(iter(line1.values())).line.model.route
    served = {s.model.station for s in line1.values()}
    assert {op.station for op in route.operations} | {route.rework.station} <= served


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_config_is_refused_with_every_error_located(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _expected(path)
    assert expected, f"{path} has no '# expect:' line"
    assert main(["config", "check", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == expected


def test_check_exits_zero_and_shows_hashes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", *map(str, GOOD)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(GOOD)
    assert all("sha256:" in line for line in out)


def test_one_bad_file_among_good_ones_fails_the_whole_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "check", str(GOOD[0]), str(BAD[0])]) == 2
    captured = capsys.readouterr()
    assert str(GOOD[0]) in captured.out
    assert str(BAD[0]) in captured.err


def test_hash_ignores_comments_and_layout_but_not_values(tmp_path: Path) -> None:
    source = ROOT / "configs/lines/line1.yaml"
    original = load_any(source).content_hash
    commented = tmp_path / "line1.yaml"
    commented.write_text("# a new comment\n\n" + source.read_text())
    assert load_any(commented).content_hash == original
    commented.write_text(source.read_text().replace("max_loops: 2", "max_loops: 3"))
    assert load_any(commented).content_hash != original


def test_missing_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_any(tmp_path / "nope.yaml")


SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
"""Built once: `jsonschema.validate` checks the schema itself at every call."""


@pytest.mark.parametrize("path", GOOD, ids=lambda p: str(p.relative_to(ROOT)))
def test_schema_accepts_every_plant_file(path: Path) -> None:
    VALIDATOR.validate(_data(path))


@pytest.mark.parametrize(
    "path", [p for p in BAD if p.stem not in CROSS_CHECKED | NOT_YAML], ids=lambda p: p.stem
)
def test_schema_refuses_structural_errors(path: Path) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(_data(path))


def test_schema_is_valid_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["config", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(printed)


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (model, name, prop)
        for model, definition in schema["$defs"].items()
        for name, prop in definition.get("properties", {}).items()
    ]


def test_every_field_has_a_description() -> None:
    missing = [
        f"{model}.{name}" for model, name, prop in _properties(SCHEMA) if "description" not in prop
    ]
    assert missing == []


def _numbers(prop: dict[str, Any]) -> list[dict[str, Any]]:
    found = [prop] if prop.get("type") in ("integer", "number") else []
    for key in ("anyOf", "items", "additionalProperties"):
        value = prop.get(key)
        for sub in value if isinstance(value, list) else [value]:
            if isinstance(sub, dict):
                found += _numbers(sub)
    return found


def test_every_number_has_bounds() -> None:
    unbounded = [
        f"{model}.{name}"
        for model, name, prop in _properties(SCHEMA)
        for number in _numbers(prop)
        if "enum" not in number
        and not (
            ("minimum" in number or "exclusiveMinimum" in number)
            and ("maximum" in number or "exclusiveMaximum" in number)
        )
    ]
    assert unbounded == []


def test_the_commented_uplink_section_of_the_photo_studio_is_valid_and_complete() -> None:
    """photo-studio.yaml shows every uplink option in a commented block (the uplink is off
    by default): uncommented, it is a valid section that names every field."""
    from ruamel.yaml import YAML

    from station.uplink.config import Uplink

    text = (ROOT / "configs" / "stations" / "photo-studio.yaml").read_text()
    lines = text.splitlines()
    start = lines.index("#uplink:")
    block = ["uplink:"]
    for line in lines[start + 1 :]:
        if not line.startswith("#  "):
            break
        block.append(line[1:])
    section = YAML(typ="safe").load("\n".join(block))["uplink"]
    assert set(section) == set(Uplink.model_fields)
    Uplink.model_validate(section)
