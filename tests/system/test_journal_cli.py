"""`station journal show/verify`, the state directory and the journal benchmark."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from station.bench import journal as journal_bench
from station.cli import main
from station.journal import Event, Journal
from station.state_dir import StateDirError, journal_path, resolve_state_dir

STATION = "quality-gate"
VIN_A = "VF1RFB00X66123456"
VIN_B = "WVWZZZ1KZAW000001"


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    """A running station's journal in tmp_path with five events, two vehicles."""
    journal = Journal.open(journal_path(tmp_path), STATION)
    journal.config_hash = "abc123"
    for i, vin in enumerate((VIN_A, VIN_B, VIN_A, VIN_B, VIN_A)):
        await journal.append(
            "step_done", vin=vin, step=f"s{i}", result="passed", operator="op-2", data={"i": i}
        )
    yield journal
    await journal.close()


def table_seqs(out: str) -> list[int]:
    """The seq column of `journal show`'s table (after its title and header lines)."""
    return [int(line.split()[0]) for line in out.splitlines()[2:]]


async def test_show_station_prints_its_last_events_while_it_runs(
    journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "show", "--state-dir", str(tmp_path), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"journal of station {STATION}: last 3 of 5 events"
    assert lines[1].split() == [
        "seq", "wall", "(UTC)", "kind", "vin", "step", "result", "operator", "data"
    ]  # fmt: skip
    assert table_seqs(out) == [3, 4, 5]
    assert lines[2].split()[3:] == ["step_done", VIN_A, "s2", "passed", "op-2", '{"i":2}']


async def test_show_vin_prints_the_vehicle_passport(
    journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "show", "--vin", VIN_B, "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"passport of {VIN_B} at station {STATION}: 2 events"
    assert table_seqs(out) == [2, 4]


SOH = {"name": "soh_pct", "unit": "%", "decimals": 1, "low": 70.0, "low_inclusive": True,
       "high": None, "high_inclusive": True}  # fmt: skip
PNT_RUN = {"code": "PNT-RUN", "severity": "major", "text": "paint run or sag", "note": "left door"}


@pytest.fixture
async def visits(tmp_path: Path) -> AsyncIterator[Journal]:
    """Two visits of VIN_A (the second still open) around one of VIN_B, with events that
    name no VIN inside and between them; seq 1-15."""
    journal = Journal.open(journal_path(tmp_path), STATION)
    events: list[tuple[str, dict[str, Any]]] = [
        ("station_started", {}),  # 1: the station, before any vehicle
        ("cycle_started", {"data": {"cycle": 1}}),  # 2: VIN_A's first visit
        ("noread", {"step": "1:identify"}),  # 3: before it was identified
        ("identified", {"vin": VIN_A, "step": "1:identify"}),
        ("measured", {"vin": VIN_A, "step": "2:measure", "result": "fail", "operator": "ivan",
                      "data": {"source": "typed",
                               "values": [{**SOH, "value": 64.0, "ok": False}]}}),
        ("finding", {"vin": VIN_A, "step": "3:inspect", "result": "fail", "operator": "ivan",
                     "data": {"source": "typed", "findings": [PNT_RUN], "fail_on": ["major"],
                              "complete": False}}),
        ("state", {"result": "Held"}),  # 7
        ("cycle_ended", {"vin": VIN_A, "result": "failed"}),  # 8
        ("state", {"result": "Idle"}),  # 9: between vehicles
        ("cycle_started", {"data": {"cycle": 2}}),  # 10: VIN_B's visit
        ("identified", {"vin": VIN_B, "step": "1:identify"}),
        ("cycle_ended", {"vin": VIN_B, "result": "passed"}),  # 12
        ("cycle_started", {"data": {"cycle": 3}}),  # 13: VIN_A back, still in the station
        ("identified", {"vin": VIN_A, "step": "1:identify"}),
        ("measured", {"vin": VIN_A, "step": "2:measure", "result": "pass", "operator": "tester",
                      "data": {"source": "device:tester",
                               "values": [{**SOH, "value": 81.5, "ok": True}]}}),
    ]  # fmt: skip
    for kind, fields in events:
        await journal.append(kind, **fields)
    yield journal
    await journal.close()


async def test_show_vin_prints_the_events_of_its_visits_then_its_measurements_and_findings(
    visits: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vin = VIN_A.lower()  # normalised as a barcode read is
    assert main(["journal", "show", "--vin", vin, "--state-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"passport of {VIN_A} at station {STATION}: 10 events"
    at = lines.index("measurements: 2")
    assert [int(line.split()[0]) for line in lines[2:at]] == [2, 3, 4, 5, 6, 7, 8, 13, 14, 15]
    assert lines[at:] == [
        "measurements: 2",
        "  seq 5  soh_pct FAIL: 64.0 % < 70.0 %  (limits >= 70.0 %; typed, ivan)",
        "  seq 15  soh_pct 81.5 %  (limits >= 70.0 %; device:tester, tester)",
        "findings: 1",
        "  seq 6  PNT-RUN (major) paint run or sag (left door)  (typed, ivan)",
    ]


async def test_show_vin_json_has_its_measurements_and_findings(
    visits: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "show", "--vin", VIN_A, "--json", "--state-dir", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in document["events"]] == [2, 3, 4, 5, 6, 7, 8, 13, 14, 15]
    first = visits.events(kinds=["measured"])[0]
    assert document["measurements"][0] == {
        "seq": 5, "wall": first.wall, "step": "2:measure", **SOH, "value": 64.0, "ok": False,
        "shown": "FAIL: 64.0 % < 70.0 %", "source": "typed", "operator": "ivan",
    }  # fmt: skip
    assert [m["shown"] for m in document["measurements"]] == ["FAIL: 64.0 % < 70.0 %", "81.5 %"]
    (finding,) = document["findings"]
    assert {k: finding[k] for k in (*PNT_RUN, "seq", "source", "operator")} == {
        **PNT_RUN, "seq": 6, "source": "typed", "operator": "ivan",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("vin", "why"),
    [
        ("VF1RFB00X6612345", "VIN 'VF1RFB00X6612345': has 16 characters, expected 17"),
        ("VF1RFB00X6612345O", "letter 'O' at position 17 is not allowed (no I, O, Q)"),
        ("1M8GDM9AXKP042788"[:8] + "1" + "1M8GDM9AXKP042788"[9:], "check digit at position 9"),
        ("V" * 1_000_000, "VIN 'VVVV"),
    ],
)
def test_show_refuses_a_bad_vin_in_one_line(
    vin: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["journal", "show", "--vin", vin])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if "error:" in line]
    assert error.startswith("station journal show: error: argument --vin: ")
    assert why in error
    assert len(err) < 1000  # a megabyte typed is not printed back


async def test_show_json_has_every_field_of_every_event(
    journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["journal", "show", "--vin", VIN_A, "--json", "--limit", "2"]
    assert main([*argv, "--state-dir", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["station"] == STATION
    assert document["vin"] == VIN_A
    checked = {"verified": True, "problems": []}
    last_two = journal.events(vin=VIN_A)[-2:]
    assert document["events"] == [{**e.to_dict(), **checked} for e in last_two]
    fields = {k: v for k, v in document["events"][-1].items() if k not in checked}
    assert Event(**fields).expected_hash() == document["events"][-1]["hash"]


async def test_show_of_an_empty_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with Journal.open(journal_path(tmp_path), STATION):
        assert main(["journal", "show", "--state-dir", str(tmp_path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["events"] == []
        assert main(["journal", "show", "--state-dir", str(tmp_path)]) == 0
        assert capsys.readouterr().out == f"journal of station {STATION}: last 0 of 0 events\n"


@pytest.mark.parametrize("command", ["show", "verify"])
def test_no_journal_exits_2_and_creates_nothing(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main(["journal", command, "--state-dir", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"station journal {command}: no journal at {missing / 'journal.sqlite3'}\n"
    )
    assert not missing.exists()


def test_show_refuses_a_limit_below_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["journal", "show", "--limit", "0"])
    assert exit_.value.code == 2
    assert "--limit: must be at least 1 (got 0)" in capsys.readouterr().err


async def test_verify_ok(
    journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "verify", "--state-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        f"ok: journal {journal_path(tmp_path)} of station {STATION}: 5 events, seq 1..5, "
        "integrity ok, hash chain intact\n"
    )
    assert captured.err == ""


async def test_verify_broken_exits_1_with_each_problem_on_stderr(
    journal: Journal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await journal.close()
    conn = sqlite3.connect(journal_path(tmp_path), isolation_level=None)
    try:
        conn.execute("DROP TRIGGER events_no_delete")
        conn.execute("DELETE FROM events WHERE seq = 2")
    finally:
        conn.close()
    assert main(["journal", "verify", "--state-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("broken: journal ")
    assert captured.out.endswith(": 4 events, 2 problems\n")
    problems = captured.err.splitlines()
    assert problems[0] == "seq 3: gap in seq: expected seq 2"
    assert problems[1].startswith("seq 3: broken chain: prev_hash")


def test_verify_of_a_file_that_is_no_journal_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal_path(tmp_path).write_bytes(b"\0garbage" * 512)
    assert main(["journal", "verify", "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"broken: {journal_path(tmp_path)}: cannot be read as a journal"
    assert "not a station journal" in err[1]


async def test_commands_find_the_journal_through_state_directory(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}:/var/lib/elsewhere")
    assert main(["journal", "verify"]) == 0


# --- state directory ------------------------------------------------------------------


def test_state_dir_option_wins_then_environment_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert resolve_state_dir(None) == Path("state")
    assert (tmp_path / "state").is_dir()
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "systemd" / "station"))
    assert resolve_state_dir(None) == tmp_path / "systemd" / "station"
    assert (tmp_path / "systemd" / "station").is_dir()
    assert resolve_state_dir(tmp_path / "option") == tmp_path / "option"
    assert resolve_state_dir(tmp_path / "not-made", create=False) == tmp_path / "not-made"
    assert not (tmp_path / "not-made").exists()


def test_state_dir_that_is_a_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StateDirError, match=r"a-file \(from \$STATE_DIRECTORY\) is not a dir"):
        resolve_state_dir(None)
    with pytest.raises(StateDirError, match=r"a-file/sub \(from --state-dir\) cannot be created"):
        resolve_state_dir(tmp_path / "a-file" / "sub")


# --- benchmark ------------------------------------------------------------------------


def test_benchmark_prints_its_figures_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert journal_bench.main(["--events", "20", "--json", "--dir", str(tmp_path)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["events"], figures["synchronous"]) == (20, "FULL")
    assert figures["fs"] != ""
    sequential = figures["sequential"]
    assert 0 < sequential["p50_ms"] <= sequential["p99_ms"] <= sequential["max_ms"]
    assert sequential["events_per_s"] > 0
    assert figures["concurrent"]["tasks"] == journal_bench.CONCURRENT_TASKS
    assert figures["concurrent"]["events_per_s"] > 0
    assert figures["bytes_per_event"] > 0
    assert figures["verify_events_per_s"] > 0
    for reference in ("reference", "handed_off"):
        plain = figures[reference]
        assert 0 < plain["p50_ms"] <= plain["p99_ms"] <= plain["max_ms"], reference
        share = sequential["events_per_s"] / plain["events_per_s"]
        assert figures[f"share_of_{reference}"] == round(share, 2)
    assert list(tmp_path.iterdir()) == []
