"""Scenario files (docs/cli.md): vehicles, what happens to them, and misroutes.

The same scenario drives tests, demos and benches: `station run --simulate
--scenario` feeds one station, `station line --scenario` a whole line. A
scenario describes the world (vehicles, verdicts, faults, people's answers),
never the controller's decisions: those are what the run shows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from hal.config import Section
from station.config.loader import load_document
from station.config.names import Slug
from station.vin import check_digit

FaultKind = Literal[
    "barcode_noread",
    "barcode_garbage",
    "rfid_notag",
    "rfid_multi",
    "rfid_write_fail",
    "plc_link_drop",
    "modbus_exception",
    "turntable_stall",
    "inspection_timeout",
    "label_mismatch",
]


class ScenarioFault(Section):
    """A fault injected while the vehicle is at a station."""

    station: Slug
    """Station where it happens."""
    kind: FaultKind
    """What happens."""
    count: int = Field(default=1, ge=1, le=100)
    """How many times (no-reads, failed writes)."""
    seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    """Duration of a link drop (real seconds: --fast does not shrink it)."""
    at_deg: float = Field(default=180.0, ge=0.0, le=360.0)
    """Angle of a turntable stall."""
    code: int = Field(default=4, ge=1, le=11)
    """Modbus exception code."""


class ScenarioVehicle(Section):
    """One vehicle and what happens to it."""

    vin: str = Field(min_length=17, max_length=17)
    """The vehicle's VIN (17 characters)."""
    model: str = ""
    """Make and model, shown on the console."""
    ev: bool = False
    """Takes the EV-only operations."""
    attributes: dict[str, bool] = Field(default_factory=dict)
    """Other vehicle attributes, e.g. needs_bodywork."""
    verdicts: dict[Slug, list[Literal["pass", "fail"]]] = Field(default_factory=dict)
    """Per gate operation, the verdicts it gets, consumed in order (default pass)."""
    faults: list[ScenarioFault] = Field(default_factory=list)
    """Faults injected while this vehicle is at a station."""
    manual_vin: bool = True
    """After a final no-read the operator types the VIN."""

    def true_attributes(self) -> frozenset[str]:
        names = {name for name, value in self.attributes.items() if value}
        return frozenset(names | ({"ev"} if self.ev else set()))


class Misroute(Section):
    """A vehicle physically presented at a wrong station."""

    vin: str = Field(min_length=17, max_length=17)
    """Which vehicle."""
    station: Slug
    """Station it is wrongly presented at."""
    after: Slug
    """Operation after which it happens."""


class Scenario(Section):
    """Vehicles in arrival order, and misroutes."""

    vehicles: list[ScenarioVehicle] = Field(min_length=1, max_length=100_000)
    """Vehicles, in the order they arrive."""
    misroutes: list[Misroute] = Field(default_factory=list)
    """Wrong presentations."""
    takt_s: float = Field(default=0.0, ge=0.0, le=86_400.0)
    """Time between arrivals at the first station (0: as soon as it is free)."""


def load_scenario(path: Path | str) -> Scenario:
    """Load a scenario file; ConfigError with located errors when it is wrong."""
    return load_document(path, Scenario)


_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def generated(
    count: int,
    seed: int = 1,
    *,
    ev_share: float = 0.25,
    body_share: float = 0.3,
    fail_share: float = 0.08,
    exhausted_share: float = 0.1,
    noread_share: float = 0.05,
    gates: Sequence[str] = ("technical-control", "quality-control", "battery-qualification"),
    noread_station: str = "reception",
) -> Scenario:
    """A realistic mix of `count` vehicles, the same for the same seed.

    European VINs with a serial number and a valid check digit; shares of EVs, of
    vehicles needing bodywork, of failed `gates` (each gate drawn on its own), and of
    unreadable VIN labels at `noread_station` (the check-in, where the tag is still
    blank: an operator types the VIN). A failed gate is passed after one rework,
    except for `exhausted_share` of them, which fail again until the rework loops
    (2 on line 1) are used up: the vehicle is held for a supervisor.
    """
    rng = random.Random(seed)
    vehicles = []
    for index in range(count):
        wmi = rng.choice(["VF1", "VF3", "WVW", "WBA", "ZFA", "VSS", "TMB"])
        middle = "".join(rng.choice(_VIN_CHARS) for _ in range(8))
        vin = f"{wmi}{middle}{index % 1_000_000:06d}"
        vin = f"{vin[:8]}{check_digit(vin)}{vin[9:]}"
        verdicts: dict[str, list[Literal["pass", "fail"]]] = {}
        for gate in gates:
            if rng.random() < fail_share:
                exhausted = rng.random() < exhausted_share
                verdicts[gate] = ["fail", "fail", "fail"] if exhausted else ["fail", "pass"]
        noread = rng.random() < noread_share
        faults = [ScenarioFault(station=noread_station, kind="barcode_noread", count=3)]
        vehicles.append(
            ScenarioVehicle(
                vin=vin,
                ev=rng.random() < ev_share,
                attributes={"needs_bodywork": rng.random() < body_share},
                verdicts=verdicts,
                faults=faults if noread else [],
            )
        )
    return Scenario(vehicles=vehicles)
