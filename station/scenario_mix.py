"""Generated scenarios: a realistic mix of vehicles for a line run, a bench or a demo
without a scenario file (`station line --vehicles N`, `station run --simulate`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from station.scenario import Scenario, ScenarioFault, ScenarioVehicle
from station.vin import check_digit

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
    finds: Sequence[tuple[str, str, bool]] = (),
    found_share: float = 0.15,
) -> Scenario:
    """A realistic mix of `count` vehicles, the same for the same seed.

    European VINs with a serial number and a valid check digit; shares of EVs, of
    vehicles needing bodywork, of failed `gates` (each gate drawn on its own), and of
    unreadable VIN labels at `noread_station` (the check-in, where the tag is still
    blank: an operator types the VIN). A failed gate is passed after one rework,
    except for `exhausted_share` of them, which fail again until the rework loops
    (2 on line 1) are used up: the vehicle is held for a supervisor. Each of `finds`
    ((operation, attribute, value) a station may find on the way) is found for
    `found_share` of the vehicles that do not have that value at intake; drawn apart,
    so the rest of the mix is the same with or without them.
    """
    rng = random.Random(seed)
    finder = random.Random(f"{seed}:found")
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
        vehicle = ScenarioVehicle(
            vin=vin,
            ev=rng.random() < ev_share,
            attributes={"needs_bodywork": rng.random() < body_share},
            verdicts=verdicts,
            faults=faults if noread else [],
        )
        at_intake = vehicle.true_attributes()
        for operation, attribute, value in finds:
            if (attribute in at_intake) != value and finder.random() < found_share:
                vehicle.found.setdefault(operation, {})[attribute] = value
        vehicles.append(vehicle)
    return Scenario(vehicles=vehicles)
