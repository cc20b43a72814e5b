"""Findings, pure parts: a typed code against the catalogue, the gate's judgement by
severity, the inspection system's result document, the line's defect record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station import findings
from station.config.loader import load_station
from station.config.models import CatalogueEntry
from station.defects import NoDefectRecord, SharedDefects, shown
from station.events import FindingData
from station.journal import Event
from station.scenario import ScenarioFinding, findings_fail

STATIONS = Path(__file__).parent.parent.parent / "configs" / "stations"
CATALOGUE = {
    "PNT-RUN": CatalogueEntry(text="paint run or sag", severity="major"),
    "BDY-GAP": CatalogueEntry(text="panel gap out of tolerance", severity="minor"),
}


def finding(code: str, severity: str) -> FindingData:
    return {"code": code, "severity": severity, "text": code.lower(), "note": ""}


def test_a_typed_code_of_the_catalogue_takes_its_text_and_severity_and_keeps_the_note() -> None:
    typed, problem = findings.parse_typed("  PNT-RUN  left rear door ", CATALOGUE)
    assert problem is None
    assert typed == {
        "code": "PNT-RUN",
        "severity": "major",
        "text": "paint run or sag",
        "note": "left rear door",
    }


def test_a_code_not_in_the_catalogue_is_refused_naming_the_codes() -> None:
    typed, problem = findings.parse_typed("1.1.13 brake disc", CATALOGUE)
    assert typed is None
    assert problem == (
        "'1.1.13' is not in the catalogue of this station "
        "(codes: PNT-RUN, BDY-GAP; 'none' when there is no finding)"
    )
    assert findings.parse_typed("", CATALOGUE)[0] is None


def test_a_long_note_is_bounded() -> None:
    typed, _ = findings.parse_typed("BDY-GAP " + "y" * 5000, CATALOGUE)
    assert typed is not None and typed["note"].startswith("y" * 200 + "…[truncated")


@pytest.mark.parametrize(
    ("severities", "fail_on", "verdict"),
    [
        ([], ["major", "critical"], "pass"),
        (["minor"], ["major", "critical"], "pass"),
        (["minor", "major"], ["major", "critical"], "fail"),
        (["major"], ["critical"], "pass"),
        (["critical"], ["critical"], "fail"),
        (["critical"], [], "pass"),
    ],
)
def test_the_gate_fails_on_the_severities_it_names(
    severities: list[str], fail_on: list[str], verdict: str
) -> None:
    found = [finding(f"C{i}", s) for i, s in enumerate(severities)]
    assert findings.judge(found, fail_on) == verdict


def test_listed_is_one_printable_line() -> None:
    found = [finding("1.1.13", "major"), {**finding("X", "minor"), "text": "a\x1b[2Jb\nc"}]
    assert findings.listed(found) == "1.1.13 (major) 1.1.13; X (minor) a\\x1b[2Jb\\nc"
    assert findings.listed([]) == "none"


def result(**doc: object) -> str:
    return json.dumps({"vin": "VF1RFB00X66123456", "verdict": "pass", **doc})


def test_a_result_document_is_read_with_its_measurements_and_findings() -> None:
    parsed = findings.parse_result(
        result(
            measurements=[{"name": "brake_efficiency_pct", "value": 48, "unit": "%"}],
            findings=[{"code": "1.1.13", "severity": "major", "text": "disc scored"}],
        )
    )
    assert parsed.verdict == "pass" and parsed.vin == "VF1RFB00X66123456"
    assert parsed.measurements["brake_efficiency_pct"] == findings.Measurement(
        "brake_efficiency_pct", 48.0, "%"
    )
    assert parsed.findings == [
        {"code": "1.1.13", "severity": "major", "text": "disc scored", "note": ""}
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "result is not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"vin": "X", "verdict": "maybe"}), "a verdict"),
        (result(measurements={}), "measurements is not a list"),
        (result(measurements=[{"name": "b", "value": "12"}]), "is no number"),
        (result(measurements=[{"name": "b", "value": True}]), "is no number"),
        (result(findings=[{"code": "1.1", "severity": "serious"}]), "severity 'serious'"),
        (result(findings=[{"code": "../x", "severity": "minor"}]), "is not a code"),
        (result(findings=[{"code": "1", "severity": "minor"}] * 65), "at most 64"),
        ("x" * 70_000, "at most 65536"),
    ],
)
def test_a_bad_result_document_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(findings.BadResult, match=problem.replace("(", r"\(")):
        findings.parse_result(text)


def event(kind: str, vin: str, **data: object) -> Event:
    return Event(
        seq=1,
        station="line",
        kind=kind,
        vin=vin,
        step=None,
        result=None,
        operator=None,
        wall="",
        data=data,
        config_hash="",
        mono_ns=0,
        boot_id="",
        hash="",
        prev_hash="",
    )


def test_the_line_record_keeps_each_gate_last_visit_findings() -> None:
    record = SharedDefects()
    tc, quality = record.listener("technical-control"), record.listener("quality-control")
    vin = "VF1RFB00X66123456"
    assert shown(record, vin) == "findings: none recorded"
    tc(event("admitted", vin))
    tc(event("finding", vin, findings=[finding("1.1.13", "major")]))
    quality(event("finding", vin, findings=[finding("PNT-RUN", "major")]))
    assert shown(record, vin) == (
        "findings: technical-control: 1.1.13 (major) 1.1.13 | "
        "quality-control: PNT-RUN (major) pnt-run"
    )
    tc(event("admitted", vin))  # back at the gate after the rework: a new visit
    assert record.open_findings(vin) == {"quality-control": [finding("PNT-RUN", "major")]}
    assert shown(NoDefectRecord(), vin).startswith("findings: no defect record")


def test_a_scenario_finding_fails_by_the_station_severity_when_typed() -> None:
    quality = load_station(STATIONS / "quality.yaml").model
    tc = load_station(STATIONS / "technical-control.yaml").model
    # typed at quality: the catalogue's severity counts (PNT-DUST is minor there)
    assert not findings_fail(quality, [ScenarioFinding(code="PNT-DUST", severity="critical")])
    assert findings_fail(quality, [ScenarioFinding(code="PNT-RUN", severity="minor")])
    # given by the inspection system: its own severity
    assert findings_fail(tc, [ScenarioFinding(code="6.1.1", severity="critical")])
    assert not findings_fail(tc, [ScenarioFinding(code="1.1.2", severity="minor")])
