"""`station diag latency`: the benchmark runs (with few samples; its figures are a
benchmark's, reported from a long run, never asserted as speeds here)."""

from __future__ import annotations

import json
import random

import pytest
from modbus_rig import PHOTO_STUDIO, plc_config

from station.cli import main
from station.commands.diag_latency import Figures, measure


async def test_both_paths_are_measured_in_one_run() -> None:
    config = plc_config()
    report = await measure(config, config.reflexes[0], 6, 2.0, random.Random(4))
    assert report["samples"] == 6 and report["poll_ms"] == 10
    assert (report["input"], report["output"], report["debounce_ms"]) == (
        "vehicle_present",
        "entry_lamp",
        50,
    )
    for path in ("station", "bare"):
        row = report[path]
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert report["ratio_p99"] == round(report["station"]["p99_ms"] / report["bare"]["p99_ms"], 2)


def test_the_command_prints_the_cli_md_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diag", "latency", "--config", str(PHOTO_STUDIO), "--simulate", "--json"]
    assert main([*argv, "--samples", "4", "--seed", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"poll_ms", "samples", "station", "bare", "ratio_p99"} <= report.keys()
    assert set(report["station"]) == {"p50_ms", "p99_ms", "max_ms"}
    assert report["samples"] == 4 and report["device"] == "plc"


def test_without_a_simulator_the_command_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diag", "latency", "--config", str(PHOTO_STUDIO)]) == 2
    assert "run it with --simulate" in capsys.readouterr().err
    assert (
        main(
            ["diag", "latency", "--config", str(PHOTO_STUDIO), "--simulate", "--reflex", "estop_ok"]
        )
        == 2
    )
    assert "no reflex from input 'estop_ok'" in capsys.readouterr().err


def test_figures_are_percentiles_in_milliseconds() -> None:
    figures = Figures.of([i / 1000 for i in range(1, 101)])
    assert figures == Figures(p50_ms=50.5, p99_ms=99.01, max_ms=100.0)
