"""`station route explain`: what a line engineer reads, and the errors they get."""

from __future__ import annotations

from pathlib import Path

import pytest
from route_strategies import LINES_DIR

from station.cli import main

LINE1 = str(LINES_DIR / "line1.yaml")
LINE2 = str(LINES_DIR / "line2-express.yaml")
BAD_LINE = """\
kind: line
line: line-9
route:
  version: 1
  operations:
    - {step: 0, operation: intake, station: reception, kind: check_in}
    - step: 20
      gates: true
      operation: exit
      station: exit
  rework: {station: rework-bay}
"""


def test_line1_for_an_ev_lists_every_operation_in_order_gates_marked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["route", "explain", "--config", LINE1, "--ev"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[0].startswith("line line-1, route v1 #")
    assert out.splitlines()[0].endswith("; vehicle attributes: ev")
    assert out.splitlines()[1:] == [
        "step  operation              station",
        "  10  intake                 reception          check-in",
        "  20  diagnosis              diagnosis",
        "  30  electromechanics       electromechanics",
        "  40  bodywork               body-paint         "
        "skipped: when needs_bodywork, and needs_bodywork is false",
        "  50  cleaning               cleaning",
        "  60  technical-control      technical-control  GATE",
        "  65  battery-qualification  battery            GATE; when ev",
        "  70  photo                  photo-studio",
        "  80  quality-control        quality            GATE",
        "  90  exit                   exit               check-out",
        "   -  rework                 rework-bay         rework bay: a failed GATE sends the "
        "vehicle here, then back to it (2 loop(s) per gate, then held)",
    ]


def test_attributes_given_as_k_v_change_what_is_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["route", "explain", "--config", LINE1, "--attr", "needs_bodywork=yes"]
    assert main([*argv, "--attr", "ev=false"]) == 0
    out = capsys.readouterr().out
    assert "vehicle attributes: needs_bodywork\n" in out
    assert "  40  bodywork               body-paint         when needs_bodywork\n" in out
    assert "battery            GATE; skipped: when ev, and ev is false\n" in out


def test_an_attribute_found_on_the_way_changes_only_the_operations_after_its_finder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["route", "explain", "--config", LINE1, "--attr", "needs_bodywork=true@diagnosis"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(
        "; vehicle attributes: none; found on the way: needs_bodywork=true at diagnosis"
    )
    assert "  20  diagnosis              diagnosis          finds needs_bodywork=true" in lines
    assert (
        "  40  bodywork               body-paint         when needs_bodywork (found at diagnosis)"
        in lines
    )
    argv = ["route", "explain", "--config", LINE1, "--attr", "needs_bodywork=true"]
    assert main([*argv, "--attr", "needs_bodywork=no@electromechanics"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(
        "attributes: needs_bodywork; found on the way: needs_bodywork=false at electromechanics"
    )
    assert (
        "  40  bodywork               body-paint         skipped: when needs_bodywork, and "
        "needs_bodywork is false (found at electromechanics)" in lines
    )


def test_another_line_is_explained_from_its_own_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "explain", "--config", LINE2]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("line line-2, route v1 #")
    assert [line.split()[1] for line in lines[2:]] == [
        "intake",
        "cleaning",
        "technical-control",
        "battery-qualification",
        "photo",
        "exit",
        "rework",
    ]
    assert lines[-1].endswith("(1 loop(s) per gate, then held)")


def test_a_bad_line_file_prints_located_errors_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "line.yaml"
    bad.write_text(BAD_LINE, encoding="utf-8")
    assert main(["route", "explain", "--config", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{bad}:6: route.operations[0].step: must be 1..9999 (got 0)",
        f"{bad}:8: route.operations[1].gates: unknown key 'gates' (expected one of: step, "
        "operation, station, stations, kind, gate, when, description)",
    ]


def test_a_missing_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.yaml"
    assert main(["route", "explain", "--config", str(missing)]) == 2
    assert capsys.readouterr().err.startswith(f"{missing}:1: <file>: cannot read: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--attr", "hybrid=true"], "line line-1 declares no attribute 'hybrid' (attributes: ev, "),
        (["--attr", "ev"], "--attr 'ev': expected NAME=true or NAME=false"),
        (["--attr", "ev=maybe"], "--attr 'ev=maybe': value must be one of true, yes, 1, on, "),
        (["--attr", "ev=true@"], "--attr 'ev=true@': expected NAME=true or NAME=false, then @"),
        (["--attr", "hybrid=true@diagnosis"], "line line-1 declares no attribute 'hybrid'"),
        (["--attr", "ev=true@paint"], "operation 'paint' is not on route line-1 v1 #"),
        (["--attr", "ev=true@rework"], "operation 'rework' is not on route line-1 v1 #"),
    ],
)
def test_bad_attributes_are_named_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["route", "explain", "--config", LINE1, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"{LINE1}: {message}")


def test_parallel_stations_are_listed_with_their_operation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doubled = str(LINES_DIR / "line1-doubled.yaml")
    assert main(["route", "explain", "--config", doubled]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["photo"].split("  ")[-1] == "parallel: any of 2 stations"
    assert " photo-studio, photo-studio-2 " in rows["photo"]
    assert rows["electromechanics"].rstrip().endswith("parallel: any of 3 stations")
    assert rows["quality-control"].rstrip().endswith("GATE; parallel: any of 2 stations")
    assert "parallel" not in rows["exit"]
