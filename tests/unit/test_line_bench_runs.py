"""The plant-day runs of `python -m station.bench.line plant`: what each runs, and the
figures it takes from a `station line --json` document (no process is started here)."""

from __future__ import annotations

from typing import Any

from station.bench.line_runs import RUNS, figures


def test_each_run_is_the_product_command_with_its_share_of_the_vehicles() -> None:
    assert RUNS["line1"].command(180, 1) == [
        *("station", "line", "--config", "configs/lines/line1.yaml", "--simulate"),
        *("--vehicles", "180", "--seed", "1", "--fast", "--json"),
    ]
    assert RUNS["line1-doubled"].per_line(180) == 360
    four = RUNS["four-lines"]
    assert len(four.configs) == 4
    assert four.per_line(180) * len(four.configs) == 180  # each line file gets a quarter
    assert four.command(180, 1).count("--config") == 4
    assert four.per_line(2) == 1  # never fewer than one a line


def _journey(*stops: tuple[str, float, float]) -> list[dict[str, Any]]:
    return [{"station": s, "t_in": t_in, "t_out": t_out} for s, t_in, t_out in stops]


def test_figures_name_each_lines_busiest_station() -> None:
    line = {
        "line": "line-1",
        "wall_s": 9.0,
        "startup_s": 2.0,
        "vehicles": [
            {"journey": _journey(("reception", 0.0, 1.0), ("photo", 1.5, 4.0))},
            {"journey": _journey(("reception", 1.0, 2.0), ("photo", 4.0, 6.0))},
        ],
        "released": 2,
        "held": 0,
        "unexpected": [],
        "conservation": {"ok": True, "problems": []},
    }
    several = {
        "lines": [line, line | {"line": "line-2"}],
        "released": 4,
        "held": 0,
        "unexpected": [],
        "conservation": {"ok": True, "problems": []},
    }
    one = figures(line)
    assert one["released"] == 2 and one["conservation_ok"]
    (row,) = one["lines"]
    assert row["busiest"] == {"station": "photo", "busy_share": 0.75, "median_s": 2.25}
    assert [row["line"] for row in figures(several)["lines"]] == ["line-1", "line-2"]
