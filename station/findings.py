"""Findings: defects found at a gate, each with a code, a severity and a text. Pure
functions, no I/O.

- A finding comes from the inspection system's result document (`parse_result`) or is
  typed by an inspector from the station's catalogue (`parse_typed`: the code, then
  an optional note; a code not in the catalogue is refused with the reason).
- `judge`: pass, or fail when a finding's severity is one the gate fails on (the
  inspect step's `fail_on`, default major and critical).
- `listed`: findings as one line for a prompt (the rework bay's), bounded and escaped.

Text from outside (the inspection system's codes and texts, an inspector's note) is
bounded here (`station.journal.untrusted`) before it is journaled or shown.

The inspection system's result document (the device's `result_node`, a String)::

    {"vin": "VF1...", "verdict": "fail",
     "measurements": [{"name": "brake_efficiency_pct", "value": 48.0, "unit": "%"}],
     "findings": [{"code": "1.1.13", "severity": "major", "text": "brake disc scored"}]}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from station.events import FindingData
from station.journal.untrusted import bound_text, printable

SEVERITIES = ("minor", "major", "critical")
NONE = "none"
"""What the inspector types when there is no (more) finding."""
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,23}$")
TEXT_CHARS = 200
"""Longest finding text or note kept, in characters."""
MAX_ITEMS = 64
"""Most measurements, and most findings, taken from one result document."""
RESULT_CHARS = 65_536
"""Longest result document read."""


class Catalogued(Protocol):
    """What `parse_typed` reads of a catalogue entry (`config.models.CatalogueEntry`)."""

    @property
    def text(self) -> str: ...
    @property
    def severity(self) -> str: ...


def parse_typed(
    answer: str, catalogue: Mapping[str, Catalogued]
) -> tuple[FindingData, None] | tuple[None, str]:
    """A typed 'CODE [note]' as a finding of the catalogue, or why it is refused."""
    code, _, note = answer.strip().partition(" ")
    entry = catalogue.get(code)
    if entry is None:
        codes = ", ".join(list(catalogue)[:20]) + (", ..." if len(catalogue) > 20 else "")
        return None, (
            f"{bound_text(code, 24)!r} is not in the catalogue of this station "
            f"(codes: {codes or 'none'}; '{NONE}' when there is no finding)"
        )
    finding: FindingData = {
        "code": code,
        "severity": entry.severity,
        "text": entry.text,
        "note": bound_text(note.strip(), TEXT_CHARS),
    }
    return finding, None


def judge(findings: Iterable[FindingData], fail_on: Iterable[str]) -> str:
    """fail when a finding's severity is one the gate fails on, else pass."""
    failing = set(fail_on)
    return "fail" if any(f["severity"] in failing for f in findings) else "pass"


def listed(findings: Iterable[FindingData], limit: int = 400) -> str:
    """Findings as one printable line, e.g. '1.1.13 (major) brake disc scored; ...'."""
    parts = []
    for finding in findings:
        note = f" ({finding['note']})" if finding.get("note") else ""
        parts.append(f"{finding['code']} ({finding['severity']}) {finding['text']}{note}")
    return printable(bound_text("; ".join(parts), limit)) if parts else "none"


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class InspectionResult:
    """The inspection system's result document, checked."""

    vin: str
    verdict: str
    measurements: dict[str, Measurement] = field(default_factory=dict)
    findings: list[FindingData] = field(default_factory=list)


class BadResult(ValueError):
    """A result document that is not what the address space documents."""


def parse_result(text: str) -> InspectionResult:
    """The result document checked (BadResult saying what is wrong, bounded)."""
    if len(text) > RESULT_CHARS:
        raise BadResult(f"result document of {len(text)} characters (at most {RESULT_CHARS})")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BadResult(f"result is not JSON: {bound_text(str(exc), 120)}") from exc
    if not isinstance(doc, dict):
        raise BadResult("result is not a JSON object")
    vin, verdict = doc.get("vin"), doc.get("verdict")
    if not isinstance(vin, str) or verdict not in ("pass", "fail"):
        raise BadResult("result needs a vin (string) and a verdict (pass or fail)")
    measurements = _items(doc, "measurements")
    findings = _items(doc, "findings")
    return InspectionResult(
        bound_text(vin, 24),
        verdict,
        {m.name: m for m in map(_measurement, measurements)},
        [_finding(f) for f in findings],
    )


def _items(doc: dict[str, Any], key: str) -> list[Any]:
    items = doc.get(key, [])
    if not isinstance(items, list):
        raise BadResult(f"result {key} is not a list")
    if len(items) > MAX_ITEMS:
        raise BadResult(f"result has {len(items)} {key} (at most {MAX_ITEMS})")
    return items


def _measurement(item: Any) -> Measurement:
    if not isinstance(item, dict):
        raise BadResult("a measurement is not an object")
    name, value, unit = item.get("name"), item.get("value"), item.get("unit", "")
    if not isinstance(name, str) or not CODE.match(name):
        raise BadResult(f"measurement name {bound_text(repr(name), 40)} is not a name")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadResult(f"measurement {name}: value {bound_text(repr(value), 40)} is no number")
    if not isinstance(unit, str):
        raise BadResult(f"measurement {name}: unit is not a string")
    return Measurement(name, float(value), bound_text(unit, 16))


def _finding(item: Any) -> FindingData:
    if not isinstance(item, dict):
        raise BadResult("a finding is not an object")
    code, severity, text = item.get("code"), item.get("severity"), item.get("text", "")
    if not isinstance(code, str) or not CODE.match(code):
        raise BadResult(f"finding code {bound_text(repr(code), 40)} is not a code")
    if severity not in SEVERITIES:
        raise BadResult(
            f"finding {code}: severity {bound_text(repr(severity), 40)} is not one of "
            f"{', '.join(SEVERITIES)}"
        )
    if not isinstance(text, str):
        raise BadResult(f"finding {code}: text is not a string")
    return {"code": code, "severity": severity, "text": bound_text(text, TEXT_CHARS), "note": ""}
