"""A measured quantity against its limits: pure functions, no I/O.

A quantity of a `measure` step (`station.config.models.Quantity`) has a unit, a
number of decimals, limits (low and/or high, each inclusive or not) and a physical
range (what the quantity can be at all: SoH 0..100 %). Here:

- `rounded`: the value as it is shown and judged, at the quantity's decimals (half
  away from zero, on the decimal text: 69.95 with 1 decimal is 70.0, not 69.9 as
  binary floating point would give);
- `physical_problem`: why a value cannot be a reading of this quantity (outside the
  physical range, not a finite number): a typed value is refused, a device's value
  holds the vehicle (the device is wrong, not the vehicle);
- `within`: whether a (rounded) value is within the limits;
- `parse_typed`: a value typed by an inspector, as a number, or why it is refused;
- `nominal`: a value inside the limits (what the simulated world measures when the
  scenario says nothing).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol


class Limited(Protocol):
    """What the functions here read of a quantity (`station.config.models.Quantity`)."""

    @property
    def unit(self) -> str: ...
    @property
    def decimals(self) -> int: ...
    @property
    def low(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...
    @property
    def low_inclusive(self) -> bool: ...
    @property
    def high_inclusive(self) -> bool: ...
    @property
    def physical_min(self) -> float: ...
    @property
    def physical_max(self) -> float: ...


def rounded(value: float, decimals: int) -> float:
    """`value` at `decimals` decimals, half away from zero on its decimal text."""
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def within(value: float, quantity: Limited) -> bool:
    """Whether `value` (rounded first) is within the quantity's limits."""
    value = rounded(value, quantity.decimals)
    low, high = quantity.low, quantity.high
    above = low is None or value > low or (value == low and quantity.low_inclusive)
    below = high is None or value < high or (value == high and quantity.high_inclusive)
    return above and below


def physical_problem(value: float, quantity: Limited) -> str | None:
    """Why `value` cannot be a reading of the quantity (None: it can)."""
    if not math.isfinite(value):
        return f"{value} is not a number"
    low, high, unit = quantity.physical_min, quantity.physical_max, quantity.unit
    if not low <= value <= high:
        return f"{value:g} {unit} is outside the physical range {low:g}..{high:g} {unit}"
    return None


def parse_typed(text: str, quantity: Limited) -> tuple[float, None] | tuple[None, str]:
    """A typed value as a number rounded to the quantity's decimals, or why it is refused."""
    cleaned = text.strip().replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None, f"{text!r} is not a number"
    if not number.is_finite():
        return None, f"{text!r} is not a number"
    value = float(number)
    problem = physical_problem(value, quantity)
    if problem is not None:
        return None, problem
    return rounded(value, quantity.decimals), None


def describe(quantity: Limited) -> str:
    """The limits as an inspector reads them, e.g. '>= 70.0 %' or '> 0 and <= 50 mV'."""
    parts, places = [], quantity.decimals
    if quantity.low is not None:
        parts.append(f"{'>=' if quantity.low_inclusive else '>'} {quantity.low:.{places}f}")
    if quantity.high is not None:
        parts.append(f"{'<=' if quantity.high_inclusive else '<'} {quantity.high:.{places}f}")
    return (" and ".join(parts) or "no limits") + (f" {quantity.unit}" if quantity.unit else "")


def nominal(quantity: Limited) -> float:
    """A value well inside the limits and the physical range (the simulated good part)."""
    low = quantity.low if quantity.low is not None else quantity.physical_min
    high = quantity.high if quantity.high is not None else quantity.physical_max
    if quantity.high is None and math.isfinite(low):
        # only a low limit: a bit above it, not at the end of a wide physical range
        high = min(quantity.physical_max, low + max(abs(low) * 0.25, 1.0))
    if quantity.low is None and math.isfinite(high):
        low = max(quantity.physical_min, high - max(abs(high) * 0.5, 1.0))
    return rounded((low + high) / 2, quantity.decimals)
