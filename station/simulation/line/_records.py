"""What a run records: each vehicle's journey (its stops), the stations' counts,
and the result, docs/cli.md's JSON document."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

Final = Literal["released", "held", "stranded"]


@dataclasses.dataclass(frozen=True)
class Stop:
    """One station on a vehicle's journey (times in seconds from the line's start)."""

    station: str
    operation: str
    step: int | None
    result: str
    """The station's cycle result: passed, failed, rework or held."""
    t_in: float
    t_out: float


@dataclasses.dataclass
class Journey:
    """One vehicle of the run: what was expected, where it went, how it ended."""

    vin: str
    expected: Literal["released", "held"]
    final: Final | None = None
    stops: list[Stop] = dataclasses.field(default_factory=list)
    note: str = ""
    """Why a vehicle was stranded."""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "vin": self.vin,
            "final": self.final,
            "expected": self.expected,
            "journey": [dataclasses.asdict(stop) for stop in self.stops],
        }
        if self.note:
            document["note"] = self.note
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Journey:
        return cls(
            vin=document["vin"],
            expected=document["expected"],
            final=document["final"],
            stops=[Stop(**stop) for stop in document["journey"]],
            note=document.get("note", ""),
        )


@dataclasses.dataclass(frozen=True)
class StationSummary:
    station: str
    operation: str
    cycles: int
    state: str
    counts: dict[str, int]


@dataclasses.dataclass
class LineResult:
    """A finished run: the document of docs/cli.md, with the check's findings."""

    line: str
    vehicles: list[Journey]
    violations: list[dict[str, Any]]
    stations: list[StationSummary]
    wall_s: float
    cpu_s: float
    startup_s: float
    problems: list[str]
    """The conservation check's findings (empty: it passed)."""
    run_dir: Path

    @property
    def unexpected(self) -> list[Journey]:
        """Vehicles that did not end as the scenario expects."""
        return [v for v in self.vehicles if v.final != v.expected]

    @property
    def exit_code(self) -> int:
        """0 when every vehicle ended as expected and the check passed, else 1."""
        return 0 if not self.unexpected and not self.problems else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "vehicles": [v.to_json() for v in self.vehicles],
            "violations": self.violations,
            "stations": [dataclasses.asdict(s) for s in self.stations],
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "startup_s": self.startup_s,
            "released": sum(v.final == "released" for v in self.vehicles),
            "held": sum(v.final == "held" for v in self.vehicles),
            "unexpected": [v.vin for v in self.unexpected],
            "conservation": {"ok": not self.problems, "problems": self.problems},
            "run_dir": str(self.run_dir),
        }
