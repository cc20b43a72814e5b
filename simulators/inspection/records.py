"""What the simulated inspection system saw and gave: its starts and its verdicts,
for tests and the simulated world to check against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Inspection:
    """A start of an inspection, as the simulator saw it."""

    vin: str
    user: str | None
    """User name of the session that wrote the VIN (None: anonymous, or the Start method)."""


@dataclass(frozen=True)
class VerdictGiven:
    """A verdict the simulator published."""

    vin: str
    verdict: str
    serving: bool
    """Whether the server was listening then (False: decided during a restart, so a
    client can only learn it by reading the value again)."""
