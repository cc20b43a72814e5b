"""A measured value against its limits (`station.limits`): rounding to the quantity's
decimals, inclusive and exclusive limits, the physical range, typed values; and the
quantity's own config rules (`station.config.models.Quantity`)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from station import limits
from station.config.models import Quantity


def quantity(**fields: object) -> Quantity:
    base: dict[str, object] = {"unit": "%", "physical_min": 0, "physical_max": 100}
    return Quantity.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (69.95, 1, 70.0),  # half away from zero on the decimal text (binary gives 69.9)
        (69.94, 1, 69.9),
        (-0.05, 1, -0.1),
        (2.675, 2, 2.68),
        (499.5, 0, 500.0),
        (12.3456, 3, 12.346),
    ],
)
def test_values_are_rounded_half_away_from_zero_at_their_decimals(
    value: float, decimals: int, shown: float
) -> None:
    assert limits.rounded(value, decimals) == shown


@pytest.mark.parametrize(
    ("fields", "value", "ok"),
    [
        ({"low": 70}, 70.0, True),  # inclusive by default
        ({"low": 70}, 69.9, False),
        ({"low": 70}, 69.95, True),  # rounded to 70.0 first, then judged
        ({"low": 70, "low_inclusive": False}, 70.0, False),
        ({"low": 70, "low_inclusive": False}, 70.1, True),
        ({"high": 50, "decimals": 0}, 50.0, True),
        ({"high": 50, "decimals": 0}, 50.4, True),  # shown as 50
        ({"high": 50, "decimals": 0}, 50.5, False),  # shown as 51
        ({"high": 50, "high_inclusive": False, "decimals": 0}, 50.0, False),
        ({"low": 20, "high": 80}, 20.0, True),
        ({"low": 20, "high": 80}, 80.0, True),
        ({"low": 20, "high": 80}, 80.1, False),
        ({"low": 20, "high": 80, "low_inclusive": False, "high_inclusive": False}, 50, True),
    ],
)
def test_within_limits(fields: dict[str, object], value: float, ok: bool) -> None:
    assert limits.within(value, quantity(**fields)) is ok


def test_the_physical_range_is_inclusive_and_refuses_what_is_not_a_number() -> None:
    soh = quantity(low=70)
    assert limits.physical_problem(0.0, soh) is None
    assert limits.physical_problem(100.0, soh) is None
    assert limits.physical_problem(100.1, soh) == "100.1 % is outside the physical range 0..100 %"
    assert limits.physical_problem(-1, soh) == "-1 % is outside the physical range 0..100 %"
    assert limits.physical_problem(float("nan"), soh) == "nan is not a number"
    assert limits.physical_problem(float("inf"), soh) == "inf is not a number"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("64", (64.0, None)),
        (" 81,55 ", (81.6, None)),  # a decimal comma, rounded to 1 decimal
        ("100", (100.0, None)),
        ("100.01", (None, "100.01 % is outside the physical range 0..100 %")),
        ("-3", (None, "-3 % is outside the physical range 0..100 %")),
        ("sixty", (None, "'sixty' is not a number")),
        ("nan", (None, "'nan' is not a number")),
        ("1e400", (None, "inf is not a number")),
        ("", (None, "'' is not a number")),
    ],
)
def test_typed_values(text: str, parsed: tuple[float | None, str | None]) -> None:
    assert limits.parse_typed(text, quantity(low=70)) == parsed


def test_limits_are_described_as_an_inspector_reads_them() -> None:
    assert limits.describe(quantity(low=70)) == ">= 70.0 %"
    spread = quantity(unit="mV", high=50, high_inclusive=False, decimals=0, physical_max=5000)
    assert limits.describe(spread) == "< 50 mV"
    assert limits.describe(quantity(low=20, high=80, decimals=0)) == ">= 20 and <= 80 %"


@pytest.mark.parametrize(
    "fields",
    [
        {"low": 70},
        {"high": 50, "decimals": 0},
        {"low": 20, "high": 80},
        {"low": 70, "low_inclusive": False, "high": 70.2, "high_inclusive": False},
        {"low": 99.9},
    ],
)
def test_the_nominal_value_is_within_limits_and_physically_possible(
    fields: dict[str, object],
) -> None:
    spec = quantity(**fields)
    value = limits.nominal(spec)
    assert limits.within(value, spec) and limits.physical_problem(value, spec) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "needs a low limit, a high limit, or both"),
        ({"low": 80, "high": 70}, "low (80) must not be above high (70)"),
        ({"low": 120}, "low (120) is outside the physical range 0..100"),
        ({"low": 1, "physical_min": 5, "physical_max": 5}, "physical_min (5) must be below"),
        (
            {"low": 70, "device": "tester"},
            "names one register_name (a tester) or one node (an OPC UA device); got neither",
        ),
        (
            {"low": 70, "device": "tester", "register_name": "soh", "node": "soh"},
            "got register_name and node",
        ),
        ({"low": 70, "register_name": "soh"}, "register_name goes with device"),
        ({"low": 70, "node": "soh"}, "node goes with device"),
    ],
)
def test_a_quantity_that_cannot_be_judged_is_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        quantity(**fields)


@pytest.mark.parametrize(
    ("fields", "value", "text"),
    [
        ({"low": 70}, 64.0, "FAIL: 64.0 % < 70.0 %"),
        ({"low": 70}, 70.0, "70.0 %"),
        ({"low": 70}, 81.54, "81.5 %"),
        ({"low": 70, "low_inclusive": False}, 70.0, "FAIL: 70.0 % <= 70.0 %"),
        ({"low": 70}, 69.95, "70.0 %"),  # rounded first, then judged
        ({"high": 50, "decimals": 0, "unit": "mV"}, 51, "FAIL: 51 mV > 50 mV"),
        ({"high": 50, "decimals": 0, "unit": "mV", "high_inclusive": False}, 50,
         "FAIL: 50 mV >= 50 mV"),
        ({"low": 20, "high": 80, "decimals": 0, "unit": ""}, 81, "FAIL: 81 > 80"),
    ],
)  # fmt: skip
def test_a_value_is_shown_with_the_limit_it_misses(
    fields: dict[str, Any], value: float, text: str
) -> None:
    spec = quantity(**fields)
    assert limits.shown(value, spec) == text
    assert (limits.missed(value, spec) is None) is limits.within(value, spec)
    assert limits.shown(value, limits.Bounds.of(spec.model_dump())) == text


def test_bounds_of_a_journaled_value_read_what_it_was_judged_against() -> None:
    judged = {"name": "soh_pct", "value": 64.0, "unit": "%", "decimals": 1, "low": 70.0,
              "low_inclusive": True, "high": None, "high_inclusive": True, "ok": False}  # fmt: skip
    assert limits.Bounds.of(judged) == limits.Bounds("%", 1, 70.0, True, None, True)
    assert limits.describe(limits.Bounds.of(judged)) == ">= 70.0 %"
