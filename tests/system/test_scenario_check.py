"""Scenarios are checked once, the same way, by `station run` and `station line`
(`station.scenario.check_scenario`), before anything starts: each problem one line,
located in the file like the config loader's errors, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.config.loader import ConfigError, load_station
from station.scenario import FAULT_DRIVERS, FaultKind, check_scenario, load_scenario
from station.simulation.line import LineLayout

ROOT = Path(__file__).parent.parent.parent
PHOTO = ROOT / "configs" / "stations" / "photo-studio.yaml"
LINE = ROOT / "configs" / "lines" / "line1.yaml"
GOOD_VIN = "VF1RFB00X66123456"

BAD = [
    ("VF1RFB00X6612345I", "letter 'I' at position 17 is not allowed"),
    ("VF1RFB00X6612345O", "letter 'O' at position 17 is not allowed"),
    ("VF1RFB00X6612345Q", "letter 'Q' at position 17 is not allowed"),
    ("VF1RFB00X6612345\0", "character '\\x00' at position 17 is not a letter or digit"),
    ("vf1rfb00x66123456", "'vf1rfb00x66123456' is read as 'VF1RFB00X66123456'"),
]


def _scenario(path: Path, vehicle: dict[str, Any], **more: Any) -> Path:
    path.write_text(json.dumps({"vehicles": [vehicle], **more}, indent=1))  # JSON is YAML
    return path


def _refused(argv: list[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "station.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    return result.stderr.splitlines()


def _station_run(scenario: Path, state: Path) -> list[str]:
    argv = ["run", "--config", str(PHOTO), "--simulate", "--opcua", "off", "--fast"]
    lines = _refused(
        [*argv, "--exit-when-done", "--scenario", str(scenario), "--state-dir", str(state)]
    )
    assert not state.exists(), "refused before the state directory is made"
    return lines


@pytest.mark.parametrize(("vin", "why"), BAD, ids=["I", "O", "Q", "NUL", "lower-case"])
def test_station_run_refuses_a_vin_no_reader_reads(vin: str, why: str, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path / "s.yaml", {"model": "Clio", "vin": vin})
    (line,) = _station_run(scenario, tmp_path / "state")
    assert line.startswith(f"station run: {scenario}:5: vehicles[0].vin: ")
    assert why in line


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {
                "misroutes": [
                    {"vin": "WVWZZZ1JZXW000001", "station": "photo-studio", "after": "intake"}
                ]
            },
            ":9: misroutes[0].vin: WVWZZZ1JZXW000001 is not a vehicle of the scenario",
        ),
        (
            {"faults": [{"station": "paint-shop", "kind": "barcode_noread"}]},
            ":7: vehicles[0].faults[0].station: no station 'paint-shop' on line line-1",
        ),
        (
            {"faults": [{"station": "photo-studio", "kind": "inspection_timeout"}]},
            ":8: vehicles[0].faults[0].kind: inspection_timeout acts on a `driver: opcua` "
            "device, and station photo-studio",
        ),
    ],
    ids=["misroute-of-no-vehicle", "fault-off-the-line", "fault-without-its-device"],
)
def test_station_run_refuses_what_the_station_would_never_see(
    extra: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    vehicle = {"vin": GOOD_VIN, **{k: v for k, v in extra.items() if k == "faults"}}
    more = {k: v for k, v in extra.items() if k == "misroutes"}
    scenario = _scenario(tmp_path / "s.yaml", vehicle, **more)
    (line,) = _station_run(scenario, tmp_path / "state")
    assert line.startswith(f"station run: {scenario}{expected}")


def test_station_line_refuses_the_same_way(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path / "s.yaml",
        {
            "vin": "vf1rfb00x66123456",
            "faults": [{"station": "photo-studio", "kind": "inspection_timeout"}],
        },
    )
    lines = _refused(["line", "--config", str(LINE), "--simulate", "--scenario", str(scenario)])
    assert lines == [
        f"{scenario}:4: vehicles[0].vin: 'vf1rfb00x66123456' is read as 'VF1RFB00X66123456': "
        "write it so (capitals, no spaces or *)",
        f"{scenario}:8: vehicles[0].faults[0].kind: inspection_timeout acts on a `driver: "
        f"opcua` device, and station photo-studio ({PHOTO.resolve()}) has none: the fault "
        "would never happen",
    ]


def test_measurements_name_quantities_the_station_measures_within_their_physical_range(
    tmp_path: Path,
) -> None:
    measurements = {
        "battery-qualification": [{"soh_pct": 150.0}, {"soh_pct": 64, "torque_nm": 3}],
        "painting": [{"soh_pct": 80}],
    }
    vehicle = {"vin": GOOD_VIN, "ev": True, "measurements": measurements}
    scenario = _scenario(tmp_path / "s.yaml", vehicle)
    lines = _refused(["line", "--config", str(LINE), "--simulate", "--scenario", str(scenario)])
    battery = "vehicles[0].measurements.battery-qualification"
    assert lines == [
        f"{scenario}:9: {battery}[0].soh_pct: 150 % is outside the physical range 0..100 %",
        f"{scenario}:13: {battery}[1].torque_nm: station battery measures no 'torque_nm' "
        "(quantities: soc_pct, soh_pct, usable_capacity_kwh, insulation_ohm_per_v, "
        "cell_spread_mv)",
        f"{scenario}:16: vehicles[0].measurements.painting: no operation 'painting' on line "
        "line-1 (operations: intake, diagnosis, electromechanics, bodywork, cleaning, "
        "technical-control, battery-qualification, photo, quality-control, exit)",
    ]


def test_every_fault_kind_names_the_device_it_acts_on() -> None:
    assert set(FAULT_DRIVERS) == set(get_args(FaultKind))


# --- any document: accepted, or refused with located errors ------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
_vins = st.one_of(
    st.sampled_from([GOOD_VIN, "WVWZZZ1JZXW000001", "1M8GDM9AXKP042788", *(v for v, _ in BAD)]),
    st.text(alphabet="ABCIOQ0189 *\0abc", min_size=15, max_size=19),
)
_stations = st.sampled_from(["photo-studio", "reception", "technical-control", "paint-shop", "x"])
_operations = st.sampled_from(["photo", "quality-control", "intake", "nope"])
_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), _text)
_faults = st.fixed_dictionaries(
    {"station": _stations, "kind": st.sampled_from([*get_args(FaultKind), "bogus"])},
    optional={"count": _values, "at_deg": _values, "extra": _values},
)
_vehicles = st.fixed_dictionaries(
    {"vin": st.one_of(_vins, _values)},
    optional={
        "model": _values,
        "ev": _values,
        "attributes": st.dictionaries(st.sampled_from(["needs_bodywork", "wings"]), _values),
        "verdicts": st.dictionaries(
            _operations, st.lists(st.sampled_from(["pass", "fail", "maybe"]), max_size=3)
        ),
        "faults": st.one_of(st.lists(_faults, max_size=3), _values),
    },
)
_documents = st.one_of(
    st.fixed_dictionaries(
        {"vehicles": st.one_of(st.lists(_vehicles, max_size=4), _values)},
        optional={
            "misroutes": st.lists(
                st.fixed_dictionaries({"vin": _vins, "station": _stations, "after": _operations}),
                max_size=2,
            ),
            "takt_s": _values,
        },
    ),
    st.lists(_values, max_size=2),
    _values,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_documents)
def test_a_scenario_is_accepted_or_refused_with_located_errors(document: Any) -> None:
    station = load_station(PHOTO)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scenario.yaml"
        path.write_text(json.dumps(document))
        try:
            scenario = load_scenario(path)
        except ConfigError as exc:
            assert exc.issues
            assert all(issue.file == str(path) and issue.line >= 1 for issue in exc.issues)
            return
        problems = check_scenario(scenario, station.line, {"photo-studio": station}, path)
    for problem in problems:
        assert problem.startswith(f"{path}:")
        line, _path, _message = problem.removeprefix(f"{path}:").split(": ", 2)
        assert int(line) >= 1


def test_attributes_found_name_an_operation_whose_station_asks_them(tmp_path: Path) -> None:
    found = {
        "diagnosis": {"needs_bodywork": False, "hybrid": True},
        "cleaning": {"needs_bodywork": True},
        "rework": {"needs_bodywork": True},
    }
    path = _scenario(tmp_path / "s.yaml", {"vin": GOOD_VIN, "found": found})
    layout = LineLayout.load(LINE)
    problems = check_scenario(load_scenario(path), layout.line, layout.stations, path)
    assert problems == [
        f"{path}:7: vehicles[0].found.diagnosis.needs_bodywork: station diagnosis can only "
        "find needs_bodywork: true",
        f"{path}:8: vehicles[0].found.diagnosis.hybrid: the line declares no attribute "
        "'hybrid' (attributes: ev, needs_bodywork)",
        f"{path}:11: vehicles[0].found.cleaning.needs_bodywork: station cleaning finds no "
        "'needs_bodywork': no find_attributes step asks it (asked: none)",
        f"{path}:13: vehicles[0].found.rework: no route operation 'rework' (operations: "
        "intake, diagnosis, electromechanics, bodywork, cleaning, technical-control, "
        "battery-qualification, photo, quality-control, exit)",
    ]
