"""Faults the simulated inspection system takes (`SimInspection.inject`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VerdictTimeout:
    """The next `count` inspections never get a verdict (status stays "inspecting")."""

    count: int = 1


@dataclass(frozen=True)
class Restart:
    """The server stops at once and serves again after `down_s` (or its start-up time)."""

    down_s: float = 0.0


@dataclass(frozen=True)
class ChangeCertificate:
    """The server restarts with another certificate: the given files, or a new
    self-signed one for the same application URI (a re-keyed or replaced device)."""

    certificate: Path | None = None
    private_key: Path | None = None


@dataclass(frozen=True)
class Freeze:
    """The server answers nothing for `seconds`, its sockets left open."""

    seconds: float


@dataclass(frozen=True)
class BadMeasurement:
    """From the next inspection's start, the next `count` reads of a measurement node's
    value are answered with the bad status `status` (a StatusCodes name): the sensor
    has no valid reading of that vehicle."""

    count: int = 1
    status: str = "BadSensorFailure"


Fault = VerdictTimeout | Restart | ChangeCertificate | Freeze | BadMeasurement
